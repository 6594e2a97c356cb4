# differential: form=module
import warnings

warnings.simplefilter("always")
warnings.warn("past", stacklevel=10)
warnings.warn("runpy", stacklevel=3)
