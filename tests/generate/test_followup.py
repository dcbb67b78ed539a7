"""Follow-up questions made standalone (generate/followup.py), measured on a labelled set: for
each follow-up, the page its hand-written standalone form retrieves first, on twenty short pages
of generic technical documentation that share their vocabulary (timeouts, caches, defaults,
limits), so that a follow-up that loses its subject lands on another page."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragwright import Settings, TextRecord, Workspace
from ragwright.errors import AllModelsFailed
from ragwright.generate.followup import Turn, carry_over, standalone_question
from ragwright.models.types import ChatMessage, ChatResult
from tests.conftest import SAMPLE_CORPUS

PAGES = {
    "lru_cache": (
        "functools.lru_cache",
        """
functools.lru_cache(maxsize=128, typed=False) is a decorator that wraps a function with a memoizing callable
that saves up to the maxsize most recent calls. It can save time when an expensive or I/O bound function is
periodically called with the same arguments. If maxsize is set to None, the LRU feature is disabled and the
cache can grow without bound. If typed is set to true, arguments of different types are cached separately.
The wrapped function is instrumented with a cache_info() function that returns hits, misses, maxsize and
currsize, and a cache_clear() function for clearing or invalidating the cache. The cache is thread-safe so
that the wrapped function can be used in multiple threads.""",
    ),
    "json": (
        "json.dumps",
        """
json.dumps(obj, *, skipkeys=False, ensure_ascii=True, indent=None, sort_keys=False, default=None) serializes
obj to a JSON formatted str. If indent is a non-negative integer or string, JSON array elements and object
members will be pretty-printed with that indent level. If sort_keys is true, the output of dictionaries is
sorted by key. If ensure_ascii is true, all incoming non-ASCII characters are escaped. If specified, default
is a function that gets called for objects that can't otherwise be serialized; it should return a JSON
encodable version of the object or raise a TypeError. json.loads deserializes a str containing a JSON
document to a Python object.""",
    ),
    "re": (
        "re flags",
        """
The re module's flags change how a regular expression pattern is matched. re.IGNORECASE performs case
insensitive matching. re.MULTILINE makes the pattern character ^ match at the beginning of the string and at
the beginning of each line, and $ at the end of each line. re.VERBOSE allows you to write regular
expressions that look nicer: whitespace within the pattern is ignored, and a # marks a comment that runs to
the end of the line. re.DOTALL makes the . special character match any character at all, including a
newline. Flags can be combined with the bitwise OR operator, for example re.IGNORECASE | re.MULTILINE.""",
    ),
    "subprocess": (
        "subprocess.run",
        """
subprocess.run(args, *, capture_output=False, timeout=None, check=False, text=None) runs the command
described by args, waits for the command to complete, then returns a CompletedProcess instance. If
capture_output is true, stdout and stderr will be captured. The timeout argument is passed to
Popen.communicate(); if the timeout expires, the child process will be killed and waited for, and the
TimeoutExpired exception will be re-raised after the child process has terminated. If check is true and the
process exits with a non-zero exit code, a CalledProcessError exception will be raised. The returncode
attribute holds the exit status of the child.""",
    ),
    "vacuum": (
        "PostgreSQL VACUUM",
        """
VACUUM reclaims storage occupied by dead tuples in PostgreSQL. In normal operation, tuples that are deleted
or obsoleted by an update are not physically removed from their table until a VACUUM is done. Plain VACUUM
can run in parallel with normal reading and writing of the table, as an exclusive lock is not obtained.
VACUUM FULL rewrites the entire contents of the table into a new disk file with no extra space, which takes
much longer and requires an ACCESS EXCLUSIVE lock on each table while it is being processed. The autovacuum
daemon automates the execution of VACUUM and ANALYZE commands; autovacuum_naptime sets the delay between
runs.""",
    ),
    "rebase": (
        "git rebase",
        """
git rebase reapplies commits on top of another base tip. With --interactive (-i), you get an editor listing
the commits, where each one can be picked, reworded, squashed, edited or dropped before it is replayed. When a
conflict stops the rebase, resolve the conflicting files, stage them with git add, then run
git rebase --continue. To stop and return the branch to its original state, run git rebase --abort. Never
rebase commits that others have already pulled: rewriting published history forces them to reconcile.""",
    ),
    "docker": (
        "Docker volumes",
        """
Docker volumes are the preferred mechanism for persisting data generated by and used by containers. Named
volumes are created with docker volume create and are managed by Docker, while bind mounts map a file or
directory on the host machine into a container. A volume outlives the container that uses it: removing a
container does not remove its volumes. Remove unused volumes with docker volume prune, or a single one with
docker volume rm. Volumes can be mounted read-only with the :ro option.""",
    ),
    "http": (
        "HTTP Cache-Control",
        """
The Cache-Control HTTP header holds directives that control caching in browsers and shared caches such as
proxies and CDNs. max-age=N says the response remains fresh for N seconds after it was generated. no-store
means the response must not be stored in any cache, while no-cache means it may be stored but must be
revalidated with the origin server before each reuse. Revalidation uses validators: the ETag header with
If-None-Match, or Last-Modified with If-Modified-Since; the server answers 304 Not Modified when the cached
copy is still valid.""",
    ),
    "logging": (
        "Python logging",
        """
The logging module defines the standard levels DEBUG, INFO, WARNING, ERROR and CRITICAL; the default level of
the root logger is WARNING, so only events of this level and above are tracked. logging.basicConfig()
configures the root logger with a StreamHandler writing to sys.stderr and a default format; it does nothing
if the root logger already has handlers, unless force=True. Handlers send the log records to destinations:
FileHandler writes to a file, RotatingFileHandler rotates the file once it reaches maxBytes, keeping
backupCount old files.""",
    ),
    "ssh": (
        "SSH keys",
        """
ssh-keygen generates a key pair for SSH public key authentication. The recommended key type is Ed25519:
ssh-keygen -t ed25519 -C "comment". The private key should be protected with a passphrase; ssh-agent holds
decrypted keys in memory so the passphrase is typed once per session, and ssh-add adds a key to the agent.
Copy the public key to a server's ~/.ssh/authorized_keys with ssh-copy-id. The private key file must not be
readable by other users, or ssh refuses to use it.""",
    ),
    "probes": (
        "Kubernetes liveness probes",
        """
Kubernetes uses liveness probes to know when to restart a container: if the liveness probe fails, the kubelet
kills the container and restarts it according to its restart policy. A probe can run a command, send an HTTP
GET request or open a TCP socket. initialDelaySeconds is the number of seconds after the container has
started before the probe is first run; periodSeconds is how often the probe is performed (default 10 seconds);
timeoutSeconds is the number of seconds after which the probe times out (default 1); failureThreshold is how
many consecutive failures count as failed (default 3). Readiness probes instead decide when a container can
receive traffic.""",
    ),
    "asyncio": (
        "asyncio tasks",
        """
asyncio.create_task(coro) wraps a coroutine into a Task and schedules its execution on the running event
loop. Keep a reference to the task: the event loop holds only weak references, and a task with no other
reference may be garbage collected before it is done. Task.cancel() requests cancellation: a CancelledError
is thrown into the coroutine at the next await. asyncio.wait_for(aw, timeout) waits for an awaitable to
complete with a timeout and cancels it when the timeout expires, raising TimeoutError. asyncio.gather() runs
awaitables concurrently and returns their results in order.""",
    ),
    # pages that share the follow-ups' words (maxsize, thread-safe, sort keys, exit status, timeout,
    # lock, default level...), as a manual's other pages do
    "queue": (
        "queue.Queue",
        """
queue.Queue(maxsize=0) is a FIFO queue. maxsize is an integer that sets the upper bound on the number of items
that can be placed in the queue; insertion blocks once this size has been reached. If maxsize is less than or
equal to zero, or None, the queue size is infinite. The queue module implements multi-producer, multi-consumer
queues; its classes are thread-safe and useful in threaded programming when information must be exchanged
safely between multiple threads.""",
    ),
    "sorting": (
        "Sorting",
        """
sorted(iterable, *, key=None, reverse=False) returns a new sorted list. The key argument specifies a function
of one argument that is used to extract a comparison key from each element, for example key=str.lower. To sort
the keys of a dictionary, pass the dictionary itself: sorted(d) returns its keys in sorted order. Sorts are
guaranteed to be stable. The list.sort() method sorts a list in place and returns None.""",
    ),
    "shell": (
        "Shell exit status",
        """
Every command returns an exit status: zero for success, non-zero for failure. In a POSIX shell the special
parameter $? holds the exit status of the most recently executed foreground command. set -e makes the shell
exit when a command fails. A command killed by a signal N has the exit status 128+N; a command that is not
found returns 127, and one that cannot be executed returns 126.""",
    ),
    "pickle": (
        "pickle",
        """
The pickle module serializes Python objects to a byte stream and back. Objects that cannot be pickled, such as
open files, sockets or lambda functions, raise PicklingError or TypeError when you try to serialize them. A
class can control how its instances are pickled with __reduce__ or __getstate__ and __setstate__. Never
unpickle data received from an untrusted source: it can execute arbitrary code.""",
    ),
    "locks": (
        "MySQL table locks",
        """
LOCK TABLES explicitly acquires table locks for the current client session. A READ lock lets the session and
others read the table but nobody write it; a WRITE lock gives the session exclusive access. UNLOCK TABLES
releases them. InnoDB uses row-level locking, so most statements lock only the rows they touch rather than
the whole table.""",
    ),
    "sockets": (
        "socket timeouts",
        """
socket.settimeout(value) sets a timeout on blocking socket operations. When the timeout expires before the
operation completes, the operation raises TimeoutError (socket.timeout before Python 3.10). A timeout of None
puts the socket in blocking mode, and 0.0 in non-blocking mode. The default timeout for new sockets is None,
unless changed with socket.setdefaulttimeout().""",
    ),
    "tls": (
        "TLS certificates",
        """
A TLS certificate binds a public key to a domain name. Certificates are requested with a certificate signing
request (CSR) and signed by a certificate authority. The recommended key types are ECDSA P-256 or RSA 2048
bits and above. Let's Encrypt issues free certificates valid for 90 days; renew them automatically with an
ACME client such as certbot.""",
    ),
    "threads": (
        "threading",
        """
The threading module runs code in threads. A Thread is started with start() and waited for with join(). Code
that shares mutable state between threads needs a Lock: with lock: acquires and releases it. Because of the
global interpreter lock, threads help with I/O-bound work but not CPU-bound work. A daemon thread is killed
abruptly when the program exits; the default is to wait for non-daemon threads.""",
    ),
}

# (earlier user questions, follow-up, the standalone question a person would write, its page)
FOLLOW_UPS = [
    (
        ["What does functools.lru_cache do?"],
        "What happens if its maxsize is None?",
        "What happens if the maxsize of functools.lru_cache is None?",
        "lru_cache",
    ),
    (
        ["What does functools.lru_cache do?", "What happens if its maxsize is None?"],
        "Is it thread-safe?",
        "Is functools.lru_cache thread-safe?",
        "lru_cache",
    ),
    (
        ["How do I pretty-print JSON with json.dumps?"],
        "How do I sort the keys as well?",
        "How do I sort the keys with json.dumps?",
        "json",
    ),
    (
        ["How do I pretty-print JSON with json.dumps?"],
        "What happens to objects it cannot serialize?",
        "What does json.dumps do with objects it cannot serialize?",
        "json",
    ),
    (["What does re.VERBOSE do?"], "And re.MULTILINE?", "What does re.MULTILINE do?", "re"),
    (
        ["What does re.VERBOSE do?"],
        "Can I combine it with other flags?",
        "Can I combine re.VERBOSE with other regular expression flags?",
        "re",
    ),
    (
        ["How do I run a command with subprocess.run?"],
        "What happens when the timeout expires?",
        "What happens when the timeout of subprocess.run expires?",
        "subprocess",
    ),
    (
        ["How do I run a command with subprocess.run?"],
        "How do I get its exit status?",
        "How do I get the exit status of a command run with subprocess.run?",
        "subprocess",
    ),
    (
        ["What does VACUUM FULL do in PostgreSQL?"],
        "Does it lock the table?",
        "Does VACUUM FULL lock the table in PostgreSQL?",
        "vacuum",
    ),
    (
        ["How do I resolve a conflict during a git rebase?"],
        "And how do I give up and go back?",
        "How do I abort a git rebase and go back to the original branch?",
        "rebase",
    ),
    (
        ["How do I create a named Docker volume?"],
        "Is it deleted when I remove the container?",
        "Is a named Docker volume deleted when I remove the container?",
        "docker",
    ),
    (
        ["What does the Cache-Control no-store directive mean?"],
        "What about no-cache?",
        "What does the Cache-Control no-cache directive mean?",
        "http",
    ),
    (
        ["What is the default level of the Python logging root logger?"],
        "How do I change it?",
        "How do I change the level of the Python logging root logger?",
        "logging",
    ),
    (
        ["How do I generate an SSH key with ssh-keygen?"],
        "Which type is recommended?",
        "Which SSH key type is recommended for ssh-keygen?",
        "ssh",
    ),
    (
        ["What does initialDelaySeconds mean for a Kubernetes liveness probe?"],
        "What is the default timeout?",
        "What is the default timeout of a Kubernetes liveness probe?",
        "probes",
    ),
    (
        ["How do I cancel an asyncio task?"],
        "What exception does it raise in the coroutine?",
        "What exception does cancelling an asyncio task raise in the coroutine?",
        "asyncio",
    ),
]

# Written afterwards, on the bundled sample corpus (an HR handbook), and first measured before any
# change for them: 9 of 14 detected, 12 of 14 on the right page. Then "ones", a closing "then" and
# "how long / often / in total" were taught to the rewrite: 14 of 14.
SAMPLE_FOLLOW_UPS = [
    (
        ["How many vacation days do full-time employees get?"],
        "Can unused ones be carried over?",
        "Can unused vacation days be carried over into the next year?",
        "leave-policy.md",
    ),
    (
        ["What is the daily meal allowance for international trips?"],
        "And for domestic trips?",
        "What is the daily meal allowance for domestic trips?",
        "expenses.html",
    ),
    (
        ["How long must passwords be?"],
        "Where should I store them?",
        "Where should I store my passwords?",
        "it-security.txt",
    ),
    (
        ["When does the welcome session for new employees take place?"],
        "Where is it held?",
        "Where is the welcome session for new employees held?",
        "onboarding.md",
    ),
    (
        ["How do I report a lost laptop?"],
        "How quickly do I have to do that?",
        "How quickly do I have to report a lost laptop?",
        "it-security.txt",
    ),
    (
        ["When do I receive my laptop as a new employee?"],
        "And my login details?",
        "When do I receive my login details as a new employee?",
        "onboarding.md",
    ),
    (["How long is parental leave?"], "Can it be split?", "Can parental leave be split?", "leave-policy.md"),
    (
        ["Is business class allowed on flights?"],
        "Who has to approve it?",
        "Who has to approve business class flights?",
        "expenses.html",
    ),
    (
        ["What is the deadline for submitting an expense claim?"],
        "When is it paid?",
        "When is an expense claim paid?",
        "expenses.html",
    ),
    (
        ["When are security updates installed?"],
        "What should I do with my laptop then?",
        "What should I do with my laptop when security updates are installed?",
        "it-security.txt",
    ),
    (
        ["How many days per week can I work remotely?"],
        "What are the core hours then?",
        "What are the core collaboration hours for remote work?",
        "remote-work.pdf",
    ),
    (
        ["How often are engineers' laptops replaced?"],
        "How much memory do they have?",
        "How much memory do engineers' laptops have?",
        "equipment.docx",
    ),
    (
        ["How do I request new software?"],
        "Who approves expensive ones?",
        "Who approves expensive software licences?",
        "equipment.docx",
    ),
    (
        ["Can I work from another country?"],
        "How long in total?",
        "How long can I work from another country in total?",
        "remote-work.pdf",
    ),
]

# Standalone questions asked after an unrelated one: left as they are.
STANDALONE = [
    (["What does functools.lru_cache do?"], "How do I remove unused Docker volumes?"),
    (["How do I cancel an asyncio task?"], "What does the ETag header do in HTTP caching?"),
    (["What does re.VERBOSE do?"], "Does subprocess.run raise when the process times out?"),
    (["How do I generate an SSH key with ssh-keygen?"], "Is it possible to run VACUUM without locking the table?"),
    (["What does VACUUM FULL do in PostgreSQL?"], "How does git rebase --interactive let me squash commits?"),
    (["How do I create a named Docker volume?"], "What are readiness probes in Kubernetes?"),
]


def records() -> list[TextRecord]:
    return [TextRecord(id=key, title=title, text=text.strip()) for key, (title, text) in PAGES.items()]


def technical_page(ws: Workspace, question: str) -> str:
    top = ws.search(question, k=1)[0]
    return next(key for key, (title, _) in PAGES.items() if top.title == title)


def sample_page(ws: Workspace, question: str) -> str:
    return Path(ws.search(question, k=1)[0].source).name


@pytest.fixture(scope="module")
def technical(tmp_path_factory, embedder):
    ws = Workspace(settings=Settings(data_dir=tmp_path_factory.mktemp("followup")), embedder=embedder)
    ws.ingest_records(records())
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def handbook(tmp_path_factory, embedder):
    ws = Workspace(settings=Settings(data_dir=tmp_path_factory.mktemp("handbook")), embedder=embedder)
    ws.ingest([SAMPLE_CORPUS])
    yield ws
    ws.close()


def user(*questions: str) -> list[Turn]:
    return [Turn("user", q) for q in questions]


def measure(ws: Workspace, page_of, cases) -> tuple[int, int, list[tuple[str, str]]]:
    """(raw follow-ups on their page, carried-over ones on their page, the misses); asserts that
    the set is sound (each standalone question finds its page) and that each is taken as a follow-up."""
    assert [page_of(ws, standalone) for _, _, standalone, _ in cases] == [p for *_, p in cases]
    raw = rewritten = 0
    misses = []
    for history, follow_up, _, page in cases:
        rewrite = carry_over(follow_up, user(*history))
        assert rewrite.method == "carry-over", (follow_up, rewrite)
        raw += page_of(ws, follow_up) == page
        if page_of(ws, rewrite.question) == page:
            rewritten += 1
        else:
            misses.append((follow_up, rewrite.question))
    print(
        f"\nsame page as the standalone question: raw follow-up {raw}/{len(cases)}, "
        f"carried over {rewritten}/{len(cases)}"
    )
    return raw, rewritten, misses


def test_carried_over_follow_ups_retrieve_what_their_standalone_form_does(technical):
    raw, rewritten, misses = measure(technical, technical_page, FOLLOW_UPS)
    assert rewritten >= 14, misses  # most of them (16 of 16 measured), and far more than the follow-up alone (6)
    assert raw <= len(FOLLOW_UPS) // 2


def test_carried_over_follow_ups_on_the_sample_corpus(handbook):
    raw, rewritten, misses = measure(handbook, sample_page, SAMPLE_FOLLOW_UPS)
    assert rewritten >= 12 and rewritten > raw, misses  # 14 of 14 measured; the raw follow-ups 9


def test_standalone_questions_are_left_unchanged():
    for history, question in STANDALONE:
        assert carry_over(question, user(*history)).method == "unchanged", question
    assert carry_over("What happens if its maxsize is None?", []).method == "unchanged"  # nothing to carry


@pytest.mark.parametrize(
    ("history", "question", "expected"),
    [
        (
            ["What does functools.lru_cache do?"],
            "What happens if its maxsize is None?",
            "What happens if functools.lru_cache's maxsize is None?",
        ),
        (["How do I list tables in MySQL?"], "And in PostgreSQL?", "How do I list tables in PostgreSQL?"),
        (["What does json.dumps return?"], "What does this function do with NaN?", "What does json.dumps do with NaN?"),
        (["What does json.dumps return?"], "What is the default?", "What is the default (json.dumps)?"),
        (
            ["How many vacation days do full-time employees get?"],
            "And for part-time employees?",
            "How many vacation days do full-time employees get — and for part-time employees?",
        ),
        (
            ["How many vacation days do full-time employees get?"],
            "Can they be carried over?",
            "Can they be carried over (vacation days, full-time employees)?",
        ),
    ],
)
def test_how_the_subject_is_carried(history, question, expected):
    assert carry_over(question, user(*history)).question == expected


def test_a_third_question_still_reaches_the_first_ones_subject():
    history = user("What does functools.lru_cache do?", "What happens if its maxsize is None?", "And if typed is true?")
    rewrite = carry_over("Is it thread-safe?", history)
    assert rewrite.question == "Is functools.lru_cache thread-safe?"


def test_a_carry_over_never_makes_a_question_too_long():
    question = ("Is it thread-safe " + "really " * 600)[:3990] + "?"  # 17 characters longer once rewritten
    assert carry_over(question, user("What does functools.lru_cache do?"), max_chars=4000).question == question
    assert carry_over(question, user("What does functools.lru_cache do?"), max_chars=4020).method == "carry-over"


class Model:
    """A ChatModel that replies with `reply` or raises it."""

    name = "fake"

    def __init__(self, reply: str | Exception) -> None:
        self.reply, self.calls = reply, []

    def complete(self, messages, *, temperature=0.0, max_tokens=512, sources=()):
        self.calls.append((messages, temperature, max_tokens))
        if isinstance(self.reply, Exception):
            raise self.reply
        return ChatResult(text=self.reply, model="fake")


def test_a_model_rewrites_with_the_conversation_in_its_prompt():
    model = Model('Standalone question: "What happens if the maxsize of functools.lru_cache is None?"\nextra')
    history = [Turn("user", "What does functools.lru_cache do?"), Turn("assistant", "It memoizes calls [1].")]
    rewrite = standalone_question("What happens if its maxsize is None?", history, model)
    assert rewrite.method == "model"
    assert rewrite.question == "What happens if the maxsize of functools.lru_cache is None?"
    messages, temperature, max_tokens = model.calls[0]
    assert temperature == 0.0 and max_tokens <= 128
    assert "User: What does functools.lru_cache do?" in messages[-1].content
    assert "Assistant: It memoizes calls [1]." in messages[-1].content


@pytest.mark.parametrize("reply", [AllModelsFailed("fake", [], None), "", "  \n ", "x" * 400])
def test_a_failed_empty_or_overlong_model_rewrite_falls_back_to_the_carry_over(reply):
    model = Model(reply)
    rewrite = standalone_question(
        "What happens if its maxsize is None?", user("What does functools.lru_cache do?"), model
    )
    assert rewrite.method == "carry-over"
    assert rewrite.question == "What happens if functools.lru_cache's maxsize is None?"
    assert rewrite.note and model.calls


def test_without_history_the_model_is_not_asked():
    model = Model("anything")
    assert standalone_question("What does json.dumps return?", [], model).method == "unchanged"
    assert model.calls == []


def test_the_rewriters_calls_leave_nothing_in_the_caches(tmp_path, embedder):
    """Its prompt is a conversation that may quote a document, and the history cannot be tied to
    the documents it quotes: cached, a deleted document's text stayed in the exact cache (the
    rewritten question quoting it) and the semantic one (the whole conversation)."""
    from ragwright.config import GatewaySettings, ModelSettings
    from ragwright.models import Gateway
    from ragwright.models.chat import GatewayChat
    from ragwright.store import SqliteStore
    from tests.provider_server import ProviderServer

    store = SqliteStore(tmp_path / "ragwright.db")
    history = [Turn("user", "What is the vault code?"), Turn("assistant", "The vault code is ZEBRA-4417 [1].")]

    def reply(body: dict) -> str:
        rewriting = "Standalone question:" in body["messages"][-1]["content"]
        return "How often is the vault code ZEBRA-4417 changed?" if rewriting else "Hi."

    with ProviderServer(reply=reply) as srv:
        settings = Settings(
            models={"m": ModelSettings(base_url=srv.base_url + "/v1", model="x")},
            gateway=GatewaySettings(semantic_cache=True),
        )
        model = GatewayChat(Gateway(settings, store, embedder=embedder), "m")
        for _ in range(2):
            assert "ZEBRA" in standalone_question("How often is it changed?", history, model).question
        assert srv.count() == 2  # asked each time, never answered from a cache
        assert model.complete([ChatMessage("user", "Hello?")]).text  # other calls are cached as before
        assert model.complete([ChatMessage("user", "Hello?")]).cached
    assert not [v for (v,) in store._all("SELECT value FROM cache_entries") if "ZEBRA" in v]
    store.close()
