"""Keep two embedded LocalStacks on one machine from sharing (and deleting) each other's files.

LocalStack's S3 provider stores object data under a fixed ``/tmp/localstack-s3-storage``
(``provider.DEFAULT_S3_TMP_DIR``), whatever TMPDIR says. Two instances with a bucket of the
same name (two dev stacks, a test run beside a demo) then write into one directory, and
deleting the bucket in one instance removes the other's objects (seen: ``InternalError ...
No such file or directory`` on PutObject while another instance tore its stack down).
``emulator/manage.py`` gives each instance its own TMPDIR; this puts S3's data there too.
"""

from __future__ import annotations

import os
import tempfile

from localstack.runtime import hooks

S3_STORAGE_DIRNAME = "localstack-s3-storage"


@hooks.on_infra_start(name="embedded_instance_isolation")
def install() -> None:
    # Imported here: the hook module is loaded by every LocalStack start, services or not.
    from localstack.services.s3 import provider

    # Read when the provider is first built, which is after on_infra_start (services are lazy).
    provider.DEFAULT_S3_TMP_DIR = os.path.join(tempfile.gettempdir(), S3_STORAGE_DIRNAME)
