# differential: python>=3.12
import os
import warnings

warnings.simplefilter("always")
here = os.path.dirname(os.path.abspath(__file__))


def helper():
    warnings.warn("skips this file", skip_file_prefixes=(here,))


helper()
warnings.warn("other prefix", stacklevel=1, skip_file_prefixes=("/nonexistent",))
