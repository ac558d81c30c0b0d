"""Bootstrapped demos for a chain: traces of the model step, demo knobs on its chat prompts, studies and exports."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
from langchain_core._api import LangChainBetaWarning
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableParallel
from langchain_openai import ChatOpenAI

from stacktune import Bootstrap, InvalidConfiguration, check_export, create_study, load_study
from stacktune.knobs import DEMO_ORDERS, demo_variables
from stacktune_langchain import LangChainAdapter, tune
from stacktune_langchain.testing import QuizChatModel, quiz_dataset, quiz_metric

from .conftest import CAREFUL, CountingQuiz

optuna.logging.set_verbosity(optuna.logging.WARNING)

PROMPT = "step0.prompt"


def careful_chain(model: Any = None) -> Runnable[Any, Any]:
    """A chain the fake gets right as it is (careful, temperature 0.2): its runs make demos."""
    prompt = ChatPromptTemplate([("system", CAREFUL), ("human", "{question}")])
    return prompt | (model or QuizChatModel(temperature=0.2)) | StrOutputParser()


def pair(question: str, answer: str) -> dict[str, str]:
    return {"human": question, "ai": answer}


TRACES: list[Any] = [
    {PROMPT: [pair("What is 1 + 1?", "The answer is 2.")]},
    None,
    {PROMPT: [pair("What is {x} + 1?", '{"answer": "{y}"}')]},  # braces: literal text, never a template
    {PROMPT: [pair("What is 1 + 1?", "The answer is 2.")]},  # a repeat: left out
]


def messages_of(runnable: Runnable[Any, Any]) -> list[Any]:
    prompt = runnable.first if hasattr(runnable, "first") else runnable
    assert isinstance(prompt, ChatPromptTemplate)
    return list(prompt.messages)


class TestTraces:
    def test_each_example_traces_its_prompts_final_human_turn_and_the_answer(self) -> None:
        adapter = LangChainAdapter(careful_chain())
        evaluation, traces = adapter.evaluate_with_traces(quiz_dataset(3), quiz_metric)
        assert evaluation.score == 1.0 and evaluation.usage.calls == 3  # the adapter's usage, as evaluate
        assert traces == [{PROMPT: [pair(e["question"], f"The answer is {e['answer']}.")]} for e in quiz_dataset(3)]
        assert json.loads(json.dumps(traces)) == traces

    def test_several_prompts_are_traced_by_their_own_path(self) -> None:
        review = ChatPromptTemplate([("system", "Check it."), ("human", "Check: {question}"), ("human", "Be brief.")])
        chain = RunnableParallel(draft=careful_chain(), review=review | QuizChatModel(temperature=0.2))
        _, traces = LangChainAdapter(chain).evaluate_with_traces(quiz_dataset(1), quiz_metric)
        assert traces == [
            {
                "draft.step0.prompt": [pair("What is 3 + 1?", "The answer is 4.")],
                # the final turn is every human message the prompt ends with; the fake is not careful here
                "review.step0.prompt": [pair("Check: What is 3 + 1?\n\nBe brief.", "The answer is 5.")],
            }
        ]

    def test_a_failed_call_or_a_prompt_ending_otherwise_makes_no_trace(self) -> None:
        failing = LangChainAdapter(careful_chain(QuizChatModel(temperature=0.2, fail_on="4 + 3")))
        evaluation, traces = failing.evaluate_with_traces(quiz_dataset(2), quiz_metric)
        assert evaluation.scores == (1.0, 0.0) and traces[1] is None and traces[0] is not None
        prefilled = ChatPromptTemplate([("human", "{question}"), ("ai", "The answer is")]) | QuizChatModel()
        _, traces = LangChainAdapter(prefilled).evaluate_with_traces(quiz_dataset(1), quiz_metric)
        assert traces == [None]


class TestDemoKnobs:
    def test_the_knobs_appear_only_after_bootstrapping(self) -> None:
        adapter = LangChainAdapter(careful_chain())
        assert not [n for n in adapter.extract_variables().names if "demo" in n]
        space = adapter.with_bootstrapped_demos(TRACES, 4).extract_variables()
        count, order = space[f"{PROMPT}.n_demos"], space[f"{PROMPT}.demo_order"]
        # two distinct pairs: at most 2, however big max_demos is
        assert (count.low, count.high, count.default) == (0, 2, 0)
        assert list(order.choices.values()) == list(range(DEMO_ORDERS)) and order.default.startswith("given@")
        prompt_adapter_like = demo_variables("x", limit=2, pool_size=2, digest=order.default.split("@")[1])
        assert [v.name.split(".")[-1] for v in prompt_adapter_like] == ["n_demos", "demo_order"]
        assert prompt_adapter_like[1].choices == order.choices, "the core catalogue's space, as the prompt adapter's"
        assert order.when == {f"{PROMPT}.n_demos": (1, 2)}
        one = adapter.with_bootstrapped_demos(TRACES[:1], 4).extract_variables()
        assert f"{PROMPT}.n_demos" in one and f"{PROMPT}.demo_order" not in one  # one demo has one order

    def test_the_same_traces_make_the_same_space_and_other_traces_other_keys(self) -> None:
        adapter = LangChainAdapter(careful_chain())
        first = adapter.with_bootstrapped_demos(TRACES, 2).extract_variables()
        again = LangChainAdapter(careful_chain()).with_bootstrapped_demos(json.loads(json.dumps(TRACES)), 2)
        assert first.model_dump(mode="json") == again.extract_variables().model_dump(mode="json")
        other = adapter.with_bootstrapped_demos(TRACES[2:3] + TRACES[:1], 2).extract_variables()
        assert set(other[f"{PROMPT}.demo_order"].keys).isdisjoint(first[f"{PROMPT}.demo_order"].keys)

    def test_n_demos_0_is_the_chain_as_written(self) -> None:
        adapter = LangChainAdapter(careful_chain())
        demoed = adapter.with_bootstrapped_demos(TRACES, 2)
        assert demoed.model_calls(quiz_dataset(1)[0]) == adapter.model_calls(quiz_dataset(1)[0])
        zero = demoed.apply_configuration({f"{PROMPT}.n_demos": 0})
        assert zero.model_calls(quiz_dataset(1)[0]) == adapter.model_calls(quiz_dataset(1)[0])
        assert messages_of(zero.to_native()) == messages_of(adapter.to_native())

    def test_demos_go_after_the_system_messages_as_literal_messages(self) -> None:
        prompt = ChatPromptTemplate([("system", "You add."), SystemMessage("Be careful."), ("human", "{question}")])
        adapter = LangChainAdapter(prompt | QuizChatModel(temperature=0.2) | StrOutputParser())
        demoed = adapter.with_bootstrapped_demos(TRACES, 2)
        order = demoed.extract_variables()[f"{PROMPT}.demo_order"]
        shown = demoed.apply_configuration({f"{PROMPT}.n_demos": 2, f"{PROMPT}.demo_order": order.keys[0]})
        native = shown.to_native()
        messages = messages_of(native)
        assert messages[2:6] == [
            HumanMessage("What is 1 + 1?"),
            AIMessage("The answer is 2."),
            HumanMessage("What is {x} + 1?"),
            AIMessage('{"answer": "{y}"}'),
        ]
        assert native.first.input_variables == ["question"]  # type: ignore[attr-defined]
        sent = shown.model_calls(quiz_dataset(1)[0])[0].messages
        assert [role for role, _ in sent] == ["system", "system", "human", "ai", "human", "ai", "human"]
        assert sent[4] == ("human", "What is {x} + 1?") and sent[5] == ("ai", '{"answer": "{y}"}')
        assert native.invoke({"question": "What is 2 + 2?"}).startswith("The answer is")  # no template variable x
        assert messages_of(adapter.to_native()) == list(prompt.messages)  # the original is untouched

    def test_an_ordering_picks_which_demos_and_the_applied_text_knobs_stay(self) -> None:
        adapter = LangChainAdapter(careful_chain()).apply_configuration({"step0.prompt.system": CAREFUL})
        demoed = adapter.with_bootstrapped_demos(TRACES, 2)
        order = demoed.extract_variables()[f"{PROMPT}.demo_order"]
        firsts = set()
        for key in order.keys:
            native = demoed.apply_configuration({f"{PROMPT}.n_demos": 1, f"{PROMPT}.demo_order": key}).to_native()
            firsts.add(messages_of(native)[1].content)
        assert firsts == {"What is 1 + 1?", "What is {x} + 1?"}  # the shuffles reach the other demo
        assert demoed.configuration == {"step0.prompt.system": CAREFUL}

    def test_bad_traces_are_named(self) -> None:
        adapter = LangChainAdapter(careful_chain())
        with pytest.raises(InvalidConfiguration, match=r"'step3.prompt': trace #0 is for a prompt this chain"):
            adapter.with_bootstrapped_demos([{"step3.prompt": []}], 2)
        with pytest.raises(InvalidConfiguration, match=r"pair #0 of trace #1 at 'step0.prompt' needs 'human' and"):
            adapter.with_bootstrapped_demos([None, {PROMPT: [{"human": "hi"}]}], 2)
        with pytest.raises(InvalidConfiguration, match="'demos': trace #0 is no mapping"):
            adapter.with_bootstrapped_demos(["text"], 2)
        with pytest.raises(InvalidConfiguration, match="'max_demos'"):
            adapter.with_bootstrapped_demos(TRACES, 0)


class TestStudies:
    def test_a_study_keeps_the_traces_of_passed_examples_and_counts_their_calls(self, tmp_path: Path) -> None:
        model = CountingQuiz(temperature=0.2, fail_on="5 + 5")  # example 2 fails
        chain = careful_chain(model)
        storage = f"sqlite:///{tmp_path}/b.db"
        study = create_study(study_name="b", storage=storage, seed=0)
        bootstrap = Bootstrap(max_examples=4, max_demos=2)
        study.optimize(LangChainAdapter(chain), quiz_dataset(4), quiz_metric, n_trials=3, bootstrap=bootstrap)
        demos = study.bootstrapped_demos
        assert demos is not None and demos.traced
        assert demos.tried == (0, 1, 2, 3) and demos.passed == (0, 1, 3)
        assert demos.examples == [
            {PROMPT: [pair(e["question"], f"The answer is {e['answer']}.")]}
            for i, e in enumerate(quiz_dataset(4))
            if i != 2
        ]
        assert demos.usage.calls == 4
        trial_calls = sum(t.spent.spent_calls for t in study.trials if t.spent is not None)
        assert study.spent.calls == trial_calls + 4
        stored = {v["name"]: v for v in study.optuna_study.user_attrs["stacktune:space"]["variables"]}
        assert (stored[f"{PROMPT}.n_demos"]["low"], stored[f"{PROMPT}.n_demos"]["high"]) == (0, 2)

        made = len(model.answered)
        resumed = load_study("b", storage=storage)
        resumed.optimize(LangChainAdapter(chain), quiz_dataset(4), quiz_metric, n_trials=0, bootstrap=bootstrap)
        assert len(model.answered) == made  # a resumed study never runs the bootstrap again
        assert resumed.bootstrapped_demos == demos

    def test_the_export_carries_the_demos_and_round_trips(self, tmp_path: Path, quiz_server: str) -> None:
        model = ChatOpenAI(base_url=quiz_server, api_key="local", model="quiz", temperature=0.0, max_retries=0)  # type: ignore[arg-type]
        adapter = LangChainAdapter(careful_chain(model), exclude=["*.top_p", "*.max_tokens"])
        storage = f"sqlite:///{tmp_path}/e.db"
        study = create_study(study_name="e", storage=storage, seed=0)
        bootstrap = Bootstrap(max_examples=3, max_demos=2)
        study.optimize(adapter, quiz_dataset(3), quiz_metric, n_trials=1, bootstrap=bootstrap)
        variables = {v["name"]: v for v in study.optuna_study.user_attrs["stacktune:space"]["variables"]}
        first_order = variables[f"{PROMPT}.demo_order"]["keys"][0]
        study.optuna_study.enqueue_trial(
            {"step1.model.temperature": 0.0, f"{PROMPT}.n_demos": 2, f"{PROMPT}.demo_order": first_order}
        )
        study.optimize(adapter, quiz_dataset(3), quiz_metric, n_trials=1, bootstrap=bootstrap)
        shown = next(t for t in study.completed_trials() if t.configuration.get(f"{PROMPT}.n_demos") == 2)
        exported = shown.export(adapter, check=True, examples=quiz_dataset(2))
        assert isinstance(exported, Runnable)
        assert [type(m) for m in messages_of(exported)[1:5]] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LangChainBetaWarning)  # loads is "beta" in langchain-core 1.x
            loaded = loads(
                dumps(exported),
                allowed_objects="all",  # our own text: ChatOpenAI is outside langchain_core
                secrets_map={"OPENAI_API_KEY": "local"},
                valid_namespaces=["langchain_openai"],
            )
        assert messages_of(loaded) == messages_of(exported)
        tuned = study.bootstrapped_demos
        assert tuned is not None
        applied = adapter.with_bootstrapped_demos(tuned.examples or [], 2).apply_configuration(shown.configuration)
        check_export(applied, loaded, quiz_dataset(2), shown.configuration)

    def test_tune_takes_bootstrap(self) -> None:
        dataset = [{"inputs": {"question": e["question"]}, "outputs": {"answer": e["answer"]}} for e in quiz_dataset(3)]
        storage = optuna.storages.InMemoryStorage()

        def correct(outputs: Any, reference_outputs: Any) -> bool:
            return str(reference_outputs["answer"]) in outputs

        best = tune(
            careful_chain(),
            dataset,
            correct,
            n_trials=4,
            storage=storage,
            study_name="t",
            bootstrap=Bootstrap(max_examples=3, max_demos=1),
            seed=0,
        )
        demos = load_study("t", storage).bootstrapped_demos
        assert demos is not None and demos.traced and demos.passed == (0, 1, 2)
        assert demos.examples is not None and demos.examples[0] == {
            PROMPT: [pair("What is 3 + 1?", "The answer is 4.")]
        }
        assert best.invoke({"question": "What is 20 + 22?"}) == "The answer is 42."
