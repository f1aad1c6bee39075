"""Plugin entry points, kept free of heavy imports: LocalStack lists plugins at start-up."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class LocalRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """``LAMBDA_RUNTIME_EXECUTOR=local``: run Lambda functions as local worker processes."""

    name = "local"

    def load(self, *args, **kwargs):
        from embedded_localstack.executor import LocalRuntimeExecutor

        return LocalRuntimeExecutor
