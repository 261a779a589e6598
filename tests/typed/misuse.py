"""Misuse a type checker catches in a user's code (scripts/check_wheel.sh runs mypy --strict on
it against the installed wheel): each line marked with the error code it must get, and no other."""
import facemotion
from facemotion import EmotionRecognizer, detect_emotions

rec = EmotionRecognizer(detectr="haar")  # call-arg
faces = detect_emotions(facemotion.SAMPLE_IMAGE, detector=5)  # arg-type
a = rec.analyze(facemotion.SAMPLE_IMAGE)
print(a.widht)  # attr-defined
name: str = rec.classify_faces([])  # assignment
for frame in rec.stream("clip.mp4", every="2"):  # arg-type
    print(frame)
