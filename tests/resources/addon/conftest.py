from tests.addons.support import partner, real_resources_cleanup

__all__ = ["partner", "real_resources_cleanup"]
