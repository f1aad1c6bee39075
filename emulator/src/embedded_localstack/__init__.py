"""LocalStack 4.14 without Docker: a Lambda runtime executor running local worker processes, and
patches that make CloudWatch Logs and CloudWatch behave like AWS where the community edition
does not. Knows nothing about the application it runs."""
