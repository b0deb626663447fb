"""The explicit app registry: the CLI, tuner, notebooks and server look apps up here."""


class AppRegistry:
    """Maps app names to App classes, refusing duplicates."""

    def __init__(self):
        self._apps = {}

    def register(self, app_class):
        name = getattr(app_class, "name", None)
        if not name:
            raise ValueError(f"{app_class!r} has no `name`; set a class attribute `name = '...'`.")
        if name in self._apps:
            raise ValueError(
                f"An app named {name!r} is already registered ({self._apps[name].__module__}); "
                "app names must be unique."
            )
        self._apps[name] = app_class
        return app_class

    def get(self, name):
        """Returns a new instance of the app called `name`."""
        try:
            return self._apps[name]()
        except KeyError:
            known = ", ".join(sorted(self._apps)) or "none"
            raise KeyError(f"No app named {name!r}. Registered apps: {known}.") from None

    def names(self):
        return sorted(self._apps)

    def __contains__(self, name):
        return name in self._apps

    def __len__(self):
        return len(self._apps)


REGISTRY = AppRegistry()


def register_app(app_class):
    """Class decorator: `@register_app class DigitsApp(App): ...`."""
    return REGISTRY.register(app_class)
