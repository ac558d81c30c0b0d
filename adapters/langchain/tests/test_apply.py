"""apply_configuration and to_native: new runnables, the original untouched, typos rejected."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import (
    ConfigurableField,
    ConfigurableFieldMultiOption,
    Runnable,
    RunnableBinding,
    RunnableBranch,
    RunnableLambda,
    RunnableParallel,
    RunnableSequence,
)
from langchain_openai import ChatOpenAI

from stacktune import InvalidConfiguration, SupportsExport, optimizable
from stacktune_langchain import LangChainAdapter
from stacktune_langchain.testing import QuizChatModel

from .conftest import CAREFUL, SYSTEM, quiz_prompt

QUESTION = {"question": "What is 2 + 3?"}


def fingerprint(runnable: Runnable[Any, Any]) -> str:
    """Every field of every node, recursively (pydantic reprs)."""
    return repr(runnable)


def key_of(adapter: LangChainAdapter, name: str, text: str) -> Any:
    variable = adapter.extract_variables()[name]
    return next(k for k, v in variable.choices.items() if v == text)  # type: ignore[union-attr]


def test_undeclared_knobs_change_a_copy_and_the_answer(simple_chain: Runnable[Any, Any]) -> None:
    before = fingerprint(simple_chain)
    model = simple_chain.steps[1]  # type: ignore[attr-defined]
    adapter = LangChainAdapter(simple_chain, prompts={"step0.prompt.system": [CAREFUL]})
    assert simple_chain.invoke(QUESTION) == "The answer is 6."
    tuned = adapter.apply_configuration(
        {"step1.model.temperature": 0.2, "step0.prompt.system": key_of(adapter, "step0.prompt.system", CAREFUL)}
    )
    assert tuned.to_native().invoke(QUESTION) == "The answer is 5."
    assert fingerprint(simple_chain) == before and model.temperature == 0.7
    assert simple_chain.invoke(QUESTION) == "The answer is 6."
    native = tuned.to_native()
    assert isinstance(native, RunnableSequence) and native is not simple_chain
    assert native.steps[1].temperature == 0.2 and native.steps[1] is not model
    assert native.steps[2] is simple_chain.steps[2]  # untouched nodes are shared, not copied


def test_declared_knobs_go_through_with_config(mixed_chain: Runnable[Any, Any]) -> None:
    before = fingerprint(mixed_chain)
    adapter = LangChainAdapter(mixed_chain)
    assert adapter.to_native() is mixed_chain
    tuned = adapter.apply_configuration({"style": "careful", "llm==quiz/temperature": 0.3})
    native = tuned.to_native()
    assert isinstance(native, RunnableBinding)
    assert native.config["configurable"] == {"style": "careful", "llm==quiz/temperature": 0.3}
    draft = RunnableParallel(draft=mixed_chain.steps__["draft"])  # type: ignore[attr-defined]
    assert draft.with_config(native.config).invoke(QUESTION)["draft"] == "The answer is 5."
    assert draft.invoke(QUESTION)["draft"] == "The answer is 6."
    assert fingerprint(mixed_chain) == before


def test_alternative_choice_and_its_undeclared_knob(mixed_chain: Runnable[Any, Any]) -> None:
    knob = "draft.step1.llm==cold.model.max_tokens"
    adapter = LangChainAdapter(mixed_chain, bounds={knob: (1, 64)})  # short answers: below the catalogue's 16
    tuned = adapter.apply_configuration({"llm": "cold", knob: 2})
    native = tuned.to_native()
    draft = native.bound.steps__["draft"]  # type: ignore[attr-defined]
    assert draft.steps[1].alternatives["cold"].max_tokens == 2
    assert mixed_chain.steps__["draft"].steps[1].alternatives["cold"].max_tokens is None  # type: ignore[attr-defined]
    assert RunnableParallel(draft=draft).with_config(native.config).invoke(QUESTION)["draft"] == "The answer"


@pytest.mark.parametrize(
    "configuration, culprit",
    [
        ({"temprature": 0.5}, "temprature"),
        ({"step1.model.temprature": 0.5}, "step1.model.temprature"),
        ({"step1.model.temperature": 2.5}, "step1.model.temperature"),
        ({"step1.model.temperature": "hot"}, "step1.model.temperature"),
        ({"step0.prompt.system": "You answer sums!"}, "step0.prompt.system"),
    ],
)
def test_typos_and_invalid_values_are_rejected(
    simple_chain: Runnable[Any, Any], configuration: dict[str, Any], culprit: str
) -> None:
    adapter = LangChainAdapter(simple_chain)
    with pytest.raises(InvalidConfiguration) as info:
        adapter.apply_configuration(configuration)
    assert info.value.variable == culprit


def test_typo_in_a_declared_key_is_rejected_unlike_with_config(mixed_chain: Runnable[Any, Any]) -> None:
    mixed_chain.with_config(configurable={"stlye": "careful"})  # LangChain itself says nothing
    with pytest.raises(InvalidConfiguration, match="stlye.*unknown variable"):
        LangChainAdapter(mixed_chain).apply_configuration({"stlye": "careful"})
    with pytest.raises(InvalidConfiguration, match="'style'.*unknown choice"):
        LangChainAdapter(mixed_chain).apply_configuration({"style": "carefull"})


def test_inactive_conditional_knob_is_rejected(mixed_chain: Runnable[Any, Any]) -> None:
    with pytest.raises(InvalidConfiguration, match="inactive"):
        LangChainAdapter(mixed_chain).apply_configuration({"llm==quiz/temperature": 0.1, "llm": "cold"})


def test_extract_after_apply_shows_applied_values(mixed_chain: Runnable[Any, Any]) -> None:
    adapter = LangChainAdapter(mixed_chain)
    configuration = {"style": "careful", "review.step1.model.temperature": 1.5, "review.step1.model.max_tokens": 32}
    tuned = adapter.apply_configuration(configuration)
    space = tuned.extract_variables()
    assert {name: space[name].default for name in configuration} == configuration
    assert adapter.extract_variables()["style"].default == "plain"
    again = tuned.apply_configuration({"review.step1.model.temperature": 0.1})
    assert again.configuration == {**configuration, "review.step1.model.temperature": 0.1}
    review = again.to_native().bound.steps__["review"]  # type: ignore[attr-defined]
    assert (review.steps[1].temperature, review.steps[1].max_tokens) == (0.1, 32)


def test_defaults_behave_like_the_original(mixed_chain: Runnable[Any, Any]) -> None:
    adapter = LangChainAdapter(mixed_chain)
    defaults = adapter.extract_variables().defaults()
    native = adapter.apply_configuration(defaults).to_native()
    draft = RunnableParallel(draft=mixed_chain.steps__["draft"])  # type: ignore[attr-defined]
    assert draft.with_config(native.config).invoke(QUESTION) == draft.invoke(QUESTION)  # type: ignore[attr-defined]


def test_switching_models_keeps_the_node_parameters(simple_chain: Runnable[Any, Any]) -> None:
    big = QuizChatModel(model_name="big", temperature=1.0)
    adapter = LangChainAdapter(simple_chain, models={"big": big})
    tuned = adapter.apply_configuration({"step1.model": "big", "step1.model.top_p": 0.5})
    chosen = tuned.to_native().steps[1]  # type: ignore[attr-defined]
    assert (chosen.model_name, chosen.temperature, chosen.top_p) == ("big", 0.7, 0.5)
    assert (big.temperature, big.top_p) == (1.0, 1.0)
    assert tuned.extract_variables()["step1.model"].default == "big"


def test_binding_kwargs_are_updated_where_they_live() -> None:
    model = QuizChatModel(temperature=0.2)
    chain = quiz_prompt() | model.bind(temperature=0.9, stop=["\n"])
    tuned = LangChainAdapter(chain).apply_configuration({"step1.model.temperature": 0.1, "step1.model.top_p": 0.4})
    binding = tuned.to_native().steps[1]  # type: ignore[attr-defined]
    assert isinstance(binding, RunnableBinding)
    assert binding.kwargs == {"temperature": 0.1, "stop": ["\n"]} and binding.bound.top_p == 0.4
    assert chain.steps[1].kwargs["temperature"] == 0.9 and model.top_p == 1.0  # type: ignore[attr-defined]


def test_branches_and_fallbacks_are_rebuilt(openai_model: ChatOpenAI) -> None:
    slow = QuizChatModel(model_name="slow").with_fallbacks([openai_model])
    branch = RunnableBranch(
        (RunnableLambda(lambda x: "!" in x["question"]), quiz_prompt() | QuizChatModel()), quiz_prompt() | slow
    )
    tuned = LangChainAdapter(branch).apply_configuration(
        {"default.step1.primary.model.temperature": 0.4, "default.step1.fallback0.model.temperature": 0.0}
    )
    native = tuned.to_native()
    fallbacks = native.default.steps[1]  # type: ignore[attr-defined]
    assert fallbacks.runnable.temperature == 0.4 and fallbacks.fallbacks[0].temperature == 0.0
    assert native.branches[0][1] is branch.branches[0][1]  # type: ignore[attr-defined]
    assert slow.runnable.temperature == 0.7 and openai_model.temperature == 0.3


def test_prompt_template_text_is_replaced() -> None:
    prompt = PromptTemplate.from_template("{question}")
    chain = prompt | QuizChatModel(temperature=0.1)
    adapter = LangChainAdapter(chain, prompts=["Be careful. {question}"])
    native = adapter.apply_configuration({"step0.prompt": "Be careful. {question}"}).to_native()
    assert native.steps[0].template == "Be careful. {question}"  # type: ignore[attr-defined]
    assert native.invoke(QUESTION).text == "The answer is 5." and chain.invoke(QUESTION).text == "The answer is 6."
    with pytest.raises(InvalidConfiguration, match=r"candidate #1 uses \['hint'\]"):
        LangChainAdapter(chain, prompts=["Be careful. {question}", "Careful with {question} ({hint})"])


def test_chat_prompt_text_change_recomputes_inputs() -> None:
    prompt = quiz_prompt().partial(hint="think")
    chain = prompt | QuizChatModel(temperature=0.1)
    adapter = LangChainAdapter(chain, prompts={"step0.prompt.system": ["Be careful, {hint}."]})
    key = key_of(adapter, "step0.prompt.system", "Be careful, {hint}.")
    native = adapter.apply_configuration({"step0.prompt.system": key}).to_native()
    new_prompt = native.steps[0]  # type: ignore[attr-defined]
    assert new_prompt.input_variables == ["question"]
    assert new_prompt.invoke(QUESTION).messages[0].content == "Be careful, think."
    assert native.invoke(QUESTION).text == "The answer is 5."
    assert prompt.messages[0].prompt.template == SYSTEM  # type: ignore[union-attr]


def test_multi_option_field_is_reassembled() -> None:
    model = QuizChatModel().configurable_fields(
        tags=ConfigurableFieldMultiOption(id="stops", options={"dot": ".", "nl": "\n"}, default=["nl"]),
    )
    adapter = LangChainAdapter(model, undeclared=False)
    native = adapter.apply_configuration({"stops[dot]": True}).to_native()
    assert native.config["configurable"] == {"stops": ["dot", "nl"]}  # type: ignore[attr-defined]
    native = adapter.apply_configuration({"stops[nl]": False}).to_native()
    assert native.config["configurable"] == {"stops": []}  # type: ignore[attr-defined]


def test_values_already_bound_with_config_are_the_current_ones(mixed_chain: Runnable[Any, Any]) -> None:
    bound = mixed_chain.with_config(configurable={"style": "careful"})
    adapter = LangChainAdapter(bound)
    assert adapter.extract_variables()["style"].default == "careful"
    native = adapter.apply_configuration({"llm": "cold"}).to_native()
    assert native.config["configurable"] == {"style": "careful", "llm": "cold"}  # type: ignore[attr-defined]


def test_declared_candidates_pass_the_chosen_object() -> None:
    model = QuizChatModel(model_name="a").configurable_fields(model_name=ConfigurableField(id="name"))
    adapter = LangChainAdapter(model, candidates={"name": {"small": "a", "large": "b"}})
    native = adapter.apply_configuration({"name": "large"}).to_native()
    assert native.config["configurable"] == {"name": "b"}  # type: ignore[attr-defined]


def test_export_through_the_plugin_and_protocol(simple_chain: Runnable[Any, Any]) -> None:
    adapter = optimizable(simple_chain)
    assert isinstance(adapter, LangChainAdapter) and isinstance(adapter, SupportsExport)
    native = adapter.apply_configuration({"step1.model.temperature": 0.0}).to_native()  # type: ignore[attr-defined]
    assert isinstance(native, Runnable) and native.steps[1].temperature == 0.0


def test_unset_knobs_stay_unset_unless_configured(openai_model: ChatOpenAI) -> None:
    chain = quiz_prompt() | openai_model
    adapter = LangChainAdapter(chain)
    space = adapter.extract_variables()
    same = adapter.apply_configuration(space.defaults()).to_native().steps[1]  # type: ignore[attr-defined]
    assert (same.top_p, same.max_tokens, same.temperature) == (None, None, 0.3)
    tuned = adapter.apply_configuration({"step1.model.top_p": 0.5, "step1.model.max_tokens": 16})
    model = tuned.to_native().steps[1]  # type: ignore[attr-defined]
    assert (model.top_p, model.max_tokens) == (0.5, 16) and openai_model.top_p is None
    assert tuned.extract_variables()["step1.model.top_p"].default == 0.5


def test_constraints_reject_combinations(simple_chain: Runnable[Any, Any]) -> None:
    def cool_when_careful(configuration: Any) -> str | None:
        if configuration.get("step0.prompt.system") == "careful" and configuration["step1.model.temperature"] > 1:
            return "careful answers need a low temperature"
        return None

    adapter = LangChainAdapter(
        simple_chain, prompts={"step0.prompt.system": {"careful": CAREFUL}}, constraints=[cool_when_careful]
    )
    assert adapter.extract_variables().constraint_names == ("cool_when_careful",)
    with pytest.raises(InvalidConfiguration, match="cool_when_careful.*low temperature"):
        adapter.apply_configuration({"step0.prompt.system": "careful", "step1.model.temperature": 1.5})
    adapter.apply_configuration({"step0.prompt.system": "careful", "step1.model.temperature": 0.5})


def test_copies_do_not_keep_the_originals_cached_serialization(openai_model: ChatOpenAI) -> None:
    assert openai_model._serialized["kwargs"]["temperature"] == 0.3  # cached, as after a first call
    native = LangChainAdapter(openai_model).apply_configuration({"model.temperature": 1.1}).to_native()
    assert native._serialized["kwargs"]["temperature"] == 1.1  # what callbacks and tracers are shown
    assert openai_model._serialized["kwargs"]["temperature"] == 0.3


def test_a_trial_builds_the_chain_once_and_the_export_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import stacktune_langchain._adapter as adapter_module

    built: list[bool] = []
    build = adapter_module._build
    monkeypatch.setattr(adapter_module, "_build", lambda *a, **k: built.append(True) or build(*a, **k))
    program = LangChainAdapter(quiz_prompt() | QuizChatModel())
    built.clear()
    configured = program.apply_configuration({"step1.model.temperature": 0.2})
    assert len(built) == 1, "the trial's chain (with the response cache) only"
    native = configured.to_native()
    assert len(built) == 2 and configured.to_native() is native, "the export: built once, when asked for"
    assert native.steps[1].temperature == 0.2  # type: ignore[attr-defined]
    again = configured.apply_configuration({"step1.model.temperature": 0.4})
    assert again.to_native().steps[1].temperature == 0.4, "a derived adapter never hands back its parent's chain"  # type: ignore[attr-defined]
