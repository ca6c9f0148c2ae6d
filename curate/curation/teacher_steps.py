"""Recipe step: math (or any prompt-set) generation with a teacher model."""

from __future__ import annotations

from curate.curation.steps import step
from curate.errors import BadInput

_CFG = {"samples", "max_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "system",
        "prompt_template", "enable_thinking", "chat_template_kwargs", "stop", "concurrency",
        "timeout", "max_retries"}
_OTHER = {"task", "teacher", "model", "prompts", "n", "prompt_field", "reference_field",
          "id_field", "tensor_parallel", "data_parallel", "max_model_len", "server_args",
          "api_key_env"}


@step("generate", task="math")
def teacher_generate_step(catalog, inputs: list[str], params: dict, output: str, executor=None):
    """Traces from `teacher` over the input prompts dataset (or `prompts:`), resumable."""
    from curate.curation.generate import GenerateConfig, generate_traces
    from curate.curation.teachers.spec import parse_teacher

    unknown = set(params) - _CFG - _OTHER
    if unknown:
        raise BadInput(f"step 'generate' (math): unknown parameter(s) {sorted(unknown)} "
                       f"(known: {sorted(_CFG | _OTHER)})")
    prompts = params.get("prompts") or (inputs[0] if len(inputs) == 1 else None)
    if not prompts or len(inputs) > 1:
        raise BadInput("step 'generate' (math) needs one input dataset or a 'prompts' source")
    if not params.get("teacher"):
        raise BadInput("step 'generate' (math) needs a 'teacher' (vllm:MODEL, openai:URL, ...)")
    cfg = GenerateConfig(**{k: params[k] for k in _CFG if params.get(k) is not None})
    spec = parse_teacher(str(params["teacher"]), model=params.get("model"),
                         tensor_parallel=params.get("tensor_parallel"),
                         data_parallel=params.get("data_parallel"),
                         max_model_len=params.get("max_model_len"),
                         server_args=params.get("server_args"))
    res = generate_traces(catalog, output, prompts, spec, cfg, task=params.get("task", "math"),
                          n=params.get("n"), prompt_field=params.get("prompt_field"),
                          reference_field=params.get("reference_field"),
                          id_field=params.get("id_field"),
                          api_key_env=params.get("api_key_env", "OPENAI_API_KEY"),
                          executor=executor)
    return getattr(res, "ref", res)      # a Slurm dry run has no ref
