"""Teacher specs: `vllm:MODEL`, `sglang:MODEL`, `openai:URL[,URL...]`, `transformers:PATH`."""

from __future__ import annotations

from dataclasses import dataclass, field

from curate.errors import CurateError
from curate.redact import scrub

KINDS = ("vllm", "sglang", "openai", "transformers")


@dataclass(frozen=True)
class TeacherSpec:
    kind: str                       # vllm | sglang | openai | transformers
    target: str                     # model id / path, or the endpoint URL for openai
    model: str | None = None        # openai: the model name at the endpoint (default: its first)
    tensor_parallel: int = 1
    data_parallel: int = 1
    max_model_len: int | None = None
    port: int | None = None
    server_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def launches_server(self) -> bool:
        return self.kind != "openai"

    @property
    def urls(self) -> list[str]:
        """`openai:`: the endpoints (several when the target lists URLs separated by commas)."""
        return self.target.split(",") if self.kind == "openai" else []

    @property
    def served_model(self) -> str | None:
        """The model name requests carry: --model, the launched model, or (None) whatever an
        `openai:` endpoint lists first."""
        return self.model or (self.target if self.launches_server else None)

    def __str__(self) -> str:
        """The spec as recorded and printed: credentials in an `openai:` URL removed."""
        return scrub(f"{self.kind}:{self.target}")


def parse_teacher(spec: str, **options) -> TeacherSpec:
    """Parse a teacher spec; `options` fill the launcher fields (tensor_parallel, ...)."""
    kind, sep, target = spec.partition(":")
    if not sep or kind not in KINDS or not target:
        raise CurateError(f"bad teacher {scrub(spec)!r}: expected one of "
                          "vllm:MODEL, sglang:MODEL, openai:URL, transformers:PATH")
    if kind == "openai":
        urls = [u.strip() for u in target.split(",")]
        if not all(u.startswith(("http://", "https://")) for u in urls):
            raise CurateError(f"bad teacher {scrub(spec)!r}: openai: takes an http(s) URL, "
                              "or several separated by commas (the same model behind each), "
                              "e.g. openai:http://127.0.0.1:8000/v1,http://127.0.0.1:8001/v1")
        target = ",".join(u.rstrip("/") for u in urls)
    opts = {k: v for k, v in options.items() if v is not None}
    if "server_args" in opts:
        opts["server_args"] = tuple(opts["server_args"])
    for k in ("tensor_parallel", "data_parallel"):
        if int(opts.get(k, 1)) < 1:
            raise CurateError(f"--{k.replace('_', '-')} must be at least 1")
    return TeacherSpec(kind, target, **opts)
