"""fer's ``fer.emotionsmultilanguage`` (fer 25.10.3, MIT License, Copyright (c) 2018 Justin
Shenk): its table of the seven emotions' names in Turkish and German, as fer spells them. fer
drew them with ``lang=``; facemotion draws its labels in English, so the table is here for the
programs that read it."""

emotions_dict = {
    "angry": {"tr": "Kizgin", "de": "Wutend"},
    "disgust": {"tr": "Igrenme", "de": "der Ekel"},
    "fear": {"tr": "Korku", "de": "Furcht"},
    "happy": {"tr": "Mutluluk", "de": "Glucklich"},
    "sad": {"tr": "Uzuntu", "de": "Traurig"},
    "surprise": {"tr": "Saskinlik", "de": "Uberraschung"},
    "neutral": {"tr": "Notr", "de": "Neutral"},
}

__all__ = ["emotions_dict"]
