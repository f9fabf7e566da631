"""What the answers benches share (bench/answers/): the questions, how an answer is
judged, the spoken questions and their word error.
"""
