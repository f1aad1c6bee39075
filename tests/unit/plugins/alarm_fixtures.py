"""Module parameters of one alarm, shared by the plugin unit tests."""


def alarm_params(name: str = "a", **overrides):
    params = dict(
        name=name,
        description="d",
        actions_enabled=True,
        alarm_actions=["arn:t"],
        ok_actions=["arn:t"],
        insufficient_data_actions=[],
        evaluation_periods=1,
        datapoints_to_alarm=1,
        threshold=3.0,
        comparison="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        metric_name="Errors",
        namespace="AWS/Lambda",
        statistic="Sum",
        period=10,
        dimensions={"FunctionName": "fn"},
    )
    params.update(overrides)
    return params
