# differential: form=module
import warnings

warnings.warn("two", stacklevel=2)
warnings.warn("three", stacklevel=3)
warnings.warn("four", stacklevel=4)
