"""A library call with no key but an access filter calls the models as that reader: every keyless
caller of a tenant used to share one cache scope, so a reader of another group was served the reply
made for a board reader's identical prompt (and learnt that the prompt had been sent), and the
trace named no tenant."""

from ragwright import Settings, TextRecord, Workspace
from ragwright.config import GatewaySettings, ModelSettings
from ragwright.types import Access
from tests.provider_server import ProviderServer

LEAVE = TextRecord(id="leave", text="Parental leave lasts 16 weeks at full pay.", title="Leave policy")


def _workspace(tmp_path, embedder, provider: ProviderServer) -> Workspace:
    settings = Settings(data_dir=tmp_path / "d")
    settings.models = {"m": ModelSettings(base_url=provider.base_url + "/v1", model="m", timeout_s=5)}
    settings.gateway = GatewaySettings(max_retries=0, cache=True)
    settings.answer.model = "m"
    settings.answer.abstain_threshold = -1.0  # the question must reach the model
    ws = Workspace(settings=settings, embedder=embedder)
    ws.ingest_records([LEAVE], access=Access("acme"))
    return ws


def test_keyless_readers_of_other_groups_do_not_share_cached_replies(tmp_path, embedder):
    with ProviderServer(reply=lambda body: "Parental leave lasts 16 weeks [1].") as provider:
        ws = _workspace(tmp_path, embedder, provider)
        question = "How long is parental leave?"
        board, staff = Access("acme", groups=("board",)), Access("acme")
        ws.ask(question, filters={"access": board})
        assert provider.count() == 1
        ws.ask(question, filters={"access": staff})  # the same passage, the same prompt: another reader
        assert provider.count() == 2
        ws.ask(question, filters={"access": Access("acme", groups=("board",))})  # the board's own entry
        assert provider.count() == 2
        ws.close()


def test_a_keyless_readers_trace_names_its_tenant(tmp_path, embedder):
    with ProviderServer(reply=lambda body: "Parental leave lasts 16 weeks [1].") as provider:
        ws = _workspace(tmp_path, embedder, provider)
        ws.search("parental leave", filters={"access": Access("acme")})
        ws.ask("How long is parental leave?", filters={"access": Access("acme")})
        traces = ws.store.list_traces(tenant="acme")
        assert {t["name"] for t in traces} >= {"search", "ask"}
        ws.close()
