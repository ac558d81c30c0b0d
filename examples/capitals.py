"""Capital-city questions, written for the examples: the DSPy example and the cross-framework one share them.

No framework is imported here, so a task can name its data without loading DSPy.
"""

from __future__ import annotations

#: The 10 countries a study scores on.
DEV = {
    "France": "Paris",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Japan": "Tokyo",
    "Germany": "Berlin",
    "England": "London",
    "Russia": "Moscow",
    "Egypt": "Cairo",
    "China": "Beijing",
    "Greece": "Athens",
}
#: 6 more: the DSPy example's demo pool, the cross-framework example's held-out set.
MORE = {
    "Portugal": "Lisbon",
    "Austria": "Vienna",
    "Poland": "Warsaw",
    "Norway": "Oslo",
    "Ireland": "Dublin",
    "Peru": "Lima",
}
#: Instruction texts to try besides the program's own.
INSTRUCTION_CANDIDATES = ["Answer with the name of the city only.", "Give the capital city in one or two words."]
