from tests.addons.support import real_resources_cleanup

__all__ = ["real_resources_cleanup"]
