"""Which route's injection policy a client's call meets when it names a model directly (review 12:
`model: "plain"` stepped around `[routes.guarded] injection = "block"`)."""

from ragwright.config import ModelSettings, RouteSettings, Settings
from ragwright.models.screen import policy_route


def _settings(**routes: RouteSettings) -> Settings:
    spec = ModelSettings(base_url="http://127.0.0.1:9/v1", model="m")
    return Settings(models={"a": spec, "b": spec, "c": spec}, routes=routes)


def test_a_model_meets_the_strictest_route_that_contains_it_whatever_the_order():
    routes = {
        "loose": RouteSettings(models=["a", "b"], injection="off"),
        "strict": RouteSettings(models=["b", "a"], injection="block"),
        "noted": RouteSettings(models=["a"], injection="flag"),
    }
    for order in (list(routes), list(reversed(routes))):
        settings = _settings(**{name: routes[name] for name in order})
        found = policy_route(settings, "a")
        assert found is not None and found[0] == "strict" and found[1].injection == "block"


def test_a_route_name_is_its_own_policy_and_a_model_in_no_route_has_none():
    settings = _settings(
        open=RouteSettings(models=["a"], injection="off"), g=RouteSettings(models=["a"], injection="block")
    )
    assert policy_route(settings, "open") == ("open", settings.routes["open"])
    assert policy_route(settings, "c") is None
