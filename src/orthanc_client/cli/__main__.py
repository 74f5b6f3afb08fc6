"""``python -m orthanc_client.cli``: the same as the ``orthanc`` console script."""

from . import main

main()
