import pytest
from toy_framework import Chain
from toy_framework_adapter import ChainAdapter

from stacktune_conformance import OptimizableTests

TEMPLATES = ["Q: {question}\nA:", "Add the numbers and reply with only the number.\n{question}"]


class TestChainAdapter(OptimizableTests):
    @pytest.fixture
    def optimizable(self):
        return ChainAdapter(Chain(TEMPLATES[1], reasoning="steps"), templates=TEMPLATES)

    @pytest.fixture
    def dataset(self):
        return [
            {"question": "2 + 3", "answer": "5"},
            {"question": "1 + 1 + 1", "answer": "3"},
            {"question": "4 + 0 + 6", "answer": "10"},
        ]

    @pytest.fixture
    def metric(self):
        return lambda example, prediction: prediction == example["answer"]

    @pytest.fixture
    def failing_example(self):  # optional: an example the chain raises on
        return {"no question": "here"}
