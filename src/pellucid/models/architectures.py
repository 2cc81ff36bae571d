"""Where things live inside each model family: a table, not a chain of ``if`` branches.

Every analysis in Pellucid talks about the same named *sites* of a transformer
(TransformerLens-style names), whatever the family:

==========================  ==============================================================
site                        what is read or edited
==========================  ==============================================================
``embed``                   output of the token embedding, ``[batch, pos, d_model]``
``blocks.{i}.resid_pre``    input of block ``i`` (the residual stream before it)
``blocks.{i}.resid_post``   output of block ``i``
``blocks.{i}.attn.out``     attention output added to the residual stream (output projection)
``blocks.{i}.attn.z``       per-head attention outputs before the output projection,
                            ``[batch, pos, head, d_head]``
``blocks.{i}.attn.pattern`` attention weights ``[batch, head, query, key]`` (eager attention)
``blocks.{i}.mlp.in``       MLP input (after the block's pre-MLP norm), what a transcoder reads
``blocks.{i}.mlp.post``     MLP hidden activations (the "neurons"), input of the down projection
``blocks.{i}.mlp.out``      MLP output added to the residual stream (down projection output)
``final_norm``              output of the final normalisation (decoder models)
``logits``                  output of the unembedding
==========================  ==============================================================

An :class:`ArchSpec` names, per family, the module paths that provide those sites. Adding a
family is adding a row to :data:`ARCHITECTURES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pellucid.errors import ModelLoadError


@dataclass(frozen=True)
class ArchSpec:
    """Module paths of one model family (dotted, as in ``model.named_modules()``).

    ``embed``, ``blocks``, ``final_norm`` and ``unembed`` are relative to the top-level model;
    ``attn``, ``attn_out``, ``mlp_down`` are relative to one block.
    """

    family: str
    embed: str
    blocks: str
    attn: str
    attn_out: str
    mlp_down: str
    final_norm: str | None = None
    #: the MLP module, relative to one block (its input is the ``mlp.in`` site)
    mlp: str = "mlp"
    unembed: str | None = None
    #: prefixes tried in order when the model is wrapped (``BertForMaskedLM`` has ``bert.``)
    prefixes: tuple[str, ...] = ("",)
    #: whether position information is added to the embeddings (GPT-2, BERT) rather than rotary
    learned_positions: bool = False


_LLAMA = ArchSpec(
    family="llama",
    embed="model.embed_tokens",
    blocks="model.layers",
    attn="self_attn",
    attn_out="self_attn.o_proj",
    mlp_down="mlp.down_proj",
    final_norm="model.norm",
    unembed="lm_head",
)

_GPT2 = ArchSpec(
    family="gpt2",
    embed="transformer.wte",
    blocks="transformer.h",
    attn="attn",
    attn_out="attn.c_proj",
    mlp_down="mlp.c_proj",
    final_norm="transformer.ln_f",
    unembed="lm_head",
    learned_positions=True,
)

_GPT_NEOX = ArchSpec(
    family="gpt_neox",
    embed="gpt_neox.embed_in",
    blocks="gpt_neox.layers",
    attn="attention",
    attn_out="attention.dense",
    mlp_down="mlp.dense_4h_to_h",
    final_norm="gpt_neox.final_layer_norm",
    unembed="lm_head",
)

_BERT = ArchSpec(
    family="bert",
    embed="embeddings.word_embeddings",
    blocks="encoder.layer",
    attn="attention.self",
    attn_out="attention.output.dense",
    mlp_down="output.dense",
    mlp="intermediate",
    prefixes=("", "bert.", "roberta."),
    learned_positions=True,
)

#: ``config.model_type`` -> spec. Llama-style decoders share one row.
ARCHITECTURES: dict[str, ArchSpec] = {
    **{
        name: _LLAMA
        for name in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "olmo2", "smollm3", "phi3")
    },
    "gpt2": _GPT2,
    "gpt_neox": _GPT_NEOX,
    **{name: _BERT for name in ("bert", "roberta", "xlm-roberta")},
}


def arch_for(model_type: str) -> ArchSpec | None:
    """The spec of a ``config.model_type``, or ``None`` for families not in the table."""
    return ARCHITECTURES.get(model_type)


def require_arch(model_type: str) -> ArchSpec:
    """The spec of a ``config.model_type``; a family not in the table is refused with the supported ones."""
    spec = arch_for(model_type)
    if spec is None:
        raise ModelLoadError(
            f"Architecture {model_type!r} is not in Pellucid's table; supported: "
            f"{', '.join(sorted(ARCHITECTURES))}. Add a row to pellucid.models.architectures.ARCHITECTURES."
        )
    return spec
