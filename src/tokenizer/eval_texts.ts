// Fixed sample texts for `nanochat tokenizer eval`, one per genre, written for this project.
// Compression on these (bytes per token) is compared against the GPT-2 and GPT-4 vocabularies.

const news = `WASHINGTON, March 4 — The Department of Agriculture announced on Tuesday that it will expand
inspections of cattle shipments crossing the southern border after officials confirmed two new detections
of a parasitic fly in livestock near the Texas state line. "Our first priority is to keep the pest out of
the domestic herd," the agency's chief veterinary officer said at a briefing, adding that sterile-insect
releases, which eradicated the fly from the United States decades ago, would resume within weeks. Ranchers
in the region told reporters that the temporary halt to imports had already pushed feeder-cattle prices
up by roughly 4 percent, and several trade groups asked for a clear timeline. The department said it
would publish weekly updates, open a hotline for producers, and coordinate with Mexican authorities on
surveillance traps along 1,950 miles of border.`;

const korean = `서울 시민들은 올해 봄 축제를 손꼽아 기다리고 있다. 시청 관계자는 "행사장은 한강 공원 세 곳에
마련되며, 주말마다 음악 공연과 먹거리 장터가 열릴 예정"이라고 밝혔다. 지난해에는 약 120만 명이 방문해
교통 혼잡이 심했던 만큼, 올해는 셔틀버스를 늘리고 지하철 막차 시간을 한 시간 연장한다. 전문가들은
미세먼지 농도가 높은 날에는 야외 활동을 줄이고 마스크를 착용할 것을 권고했다.`;

const code = `class Tokenizer:
    """Byte-level BPE: learns merges of the most frequent adjacent pair, one at a time."""

    def __init__(self):
        self.merges = {}  # (int, int) -> int
        self.vocab = {i: bytes([i]) for i in range(256)}

    def train(self, text, vocab_size, verbose=False):
        assert vocab_size >= 256
        ids = list(text.encode("utf-8"))
        for step in range(vocab_size - 256):
            counts = {}
            for pair in zip(ids, ids[1:]):
                counts[pair] = counts.get(pair, 0) + 1
            if not counts:
                break
            best = max(counts, key=counts.get)
            new_id = 256 + step
            ids = self._replace(ids, best, new_id)
            self.merges[best] = new_id
            self.vocab[new_id] = self.vocab[best[0]] + self.vocab[best[1]]
            if verbose:
                print(f"merge {step + 1}: {best} -> {new_id} ({counts[best]} occurrences)")

    @staticmethod
    def _replace(ids, pair, new_id):
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                out.append(new_id)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        return out
`;

const math = String.raw`\documentclass{article}
\usepackage{amsmath,amssymb}
\begin{document}
\section*{The sum of the first $n$ cubes}
\begin{theorem}
For every integer $n \ge 1$, $\displaystyle \sum_{k=1}^{n} k^3 = \left(\frac{n(n+1)}{2}\right)^2$.
\end{theorem}
\begin{proof}
By induction on $n$. For $n = 1$ both sides equal $1$. Assume the identity holds for $n$. Then
\begin{align*}
\sum_{k=1}^{n+1} k^3 &= \frac{n^2 (n+1)^2}{4} + (n+1)^3
  = \frac{(n+1)^2 \left(n^2 + 4n + 4\right)}{4}
  = \left(\frac{(n+1)(n+2)}{2}\right)^2,
\end{align*}
which is the claim for $n+1$. \qedhere
\end{proof}
Geometrically, $1^3 + 2^3 + \cdots + n^3$ tiles a square of side $1 + 2 + \cdots + n = \binom{n+1}{2}$.
\end{document}
`;

const science = `Photosynthesis converts light energy into chemical energy stored in sugars. In the thylakoid
membranes of the chloroplast, photosystem II absorbs photons near 680 nm and uses their energy to split
water, releasing O2, protons and electrons. The electrons travel along a transport chain to photosystem I,
pumping protons into the thylakoid lumen; the resulting gradient drives ATP synthase. Photosystem I
re-energizes the electrons, which reduce NADP+ to NADPH. In the stroma, the Calvin cycle uses ATP and
NADPH to fix CO2: the enzyme RuBisCO attaches carbon dioxide to ribulose-1,5-bisphosphate, and after a
series of reductions three-carbon sugars leave the cycle to build glucose, sucrose and starch.`;

/** The fixed genre samples, in table order. */
export const EVAL_TEXTS: ReadonlyArray<readonly [string, string]> = [
  ["news", news],
  ["korean", korean],
  ["code", code],
  ["math", math],
  ["science", science],
];
