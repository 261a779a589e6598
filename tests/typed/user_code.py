"""A user's typed code, the README's Python among it: scripts/check_wheel.sh runs mypy --strict on
it against the installed wheel (its py.typed), which must find no error."""
import cv2
import numpy as np

import facemotion
from facemotion import EMOTIONS, EmotionRecognizer, FacemotionError, detect_emotions

faces = detect_emotions(facemotion.SAMPLE_IMAGE)
box: tuple[int, int, int, int] = faces[0]["box"]
print(box, faces[0]["dominant_emotion"], faces[0].dominant_emotion)
rec = EmotionRecognizer(detector="haar", model="fer2013_vgg_s", mesh=True)
image = cv2.imread(facemotion.SAMPLE_IMAGE)
assert image is not None
for face in rec.detect_emotions(image):
    print(face["box"], face["dominant_emotion"], round(face["emotions"]["happy"], 2))
a = rec.analyze(facemotion.SAMPLE_IMAGE)
width: int | None = a.width
print(width, a.height, a.faces[0].dominant_emotion, a.to_dict()["faces"])
x, y, w, h = faces[0]["box"]
probs: np.ndarray = rec.classify_faces([image[y:y + h, x:x + w]])
print(probs.shape, rec.labels[int(probs[0].argmax())], EMOTIONS)
table = a.to_pandas()
print(table.shape)
seven = EmotionRecognizer(fold_contempt=True)
try:
    for frame in rec.stream("clip.mp4", every=2):
        print(frame.index, frame.time_s, [f.face_id for f in frame.faces])
except FacemotionError as e:
    print(e)
explained = rec.explain(image, target="happy", method="occlusion")
print(explained[0]["saliency"])
shareable: np.ndarray = rec.annotate(image, faces, blur=True)  # the faces pixelated, as --blur draws them
cv2.imwrite("shareable.jpg", shareable)
