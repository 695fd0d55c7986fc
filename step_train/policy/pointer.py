"""A pointer head: the element a `tag_N` action names is drawn from a distribution over the prompt's table rows.

With `sampling.a11y_tags` the prompt's accessibility table numbers its rows and an action may write `tag_N` for
element N's centre. A language model has to *generate* the number N, which means finding the row that matches the
instruction and then copying the number in front of it: a small model trained from scratch learns instead to write
the numbers it saw most often. The pointer head (`model.pointer_head`, in the spirit of GUI-Actor's action head over
visual patches; here over table rows) makes the choice a comparison of contents:

- The model writes `tag_` as text. The hidden state `h_q` of its last token (the decoder's final normed state) asks
  for an element. Each prompt token `t` has its input embedding `e_t` (its identity) and its final hidden state
  `h_t` (its context), both scaled to unit RMS, `f_t = [h_t ; e_t]`.
- The task's words `U` (the instruction line) are weighed by how much they matter here:
  `g_u = w_g . f_u + (W_a h_q) . (W_b f_u) / sqrt(d)`.
- Row `r` of the table has a name and a text cell, tokens `C_r`, and spans tokens `T_r`. Its score is a soft
  maximum over (cell token, task word) pairs of how alike their identities are, plus a prior from the whole row
  (its role and state say what kind of element it is; e.g. not the instruction's own label):

      s_r = logsumexp_{t in C_r, u in U} ( tau (P e_t) . (P e_u) / sqrt(d) + g_u ) + u_p . mean_{t in T_r} f_t

  (a learned constant in place of the first term for a row with empty cells). A row scores high when it names a
  word of the task that matters: comparing identities generalizes to names never seen in training.
- `N` is drawn from `softmax(s / temperature)` (its argmax when decoding greedily) and written as N's digits. The
  first digit's log-probability is `log softmax(s / temperature)[N]`, the other digits' 0: the reply's
  log-probability is the text's plus the point's, so every loss (STEP, T-GRPO, GiGPO, SFT) uses it unchanged.

The head is small (about `3 * width * d` weights, d = 64); it is saved next to the weights it was trained with
(`pointer_head.safetensors` in a checkpoint's `adapter/` or `model/`, or in a model directory), and a model without
one starts from a seeded random head. With `reference()` (adapters off) the head scores the base model's states.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

HEAD_FILE = "pointer_head.safetensors"
TRIGGER = "tag_"
"""The text after which the head, not the language model, writes the number."""
_ROW = re.compile(r"(\d+)\t[^\n]*")
_HEADER = "tag\trole\t"
_TASK = "Task: "


@dataclass(frozen=True)
class Table:
    """Token spans `[start, end)` of a prompt's parts the head reads."""

    context: tuple[int, int]
    """The task's words (the instruction line; the text above the table when there is none)."""
    rows: list[tuple[int, int]]
    """Each tagged row, from its number to its last cell."""
    cells: list[tuple[int, int]]
    """Each row's name and text cells (what an instruction names)."""


class PointerHead(torch.nn.Module):
    """Scores the rows of a prompt's table against the state that asks for an element (module docstring)."""

    def __init__(self, width: int, dim: int = 64) -> None:
        super().__init__()
        self.dim = dim
        self.match = torch.nn.Linear(width, dim, bias=False)  # P: compares token identities (embeddings)
        self.gate = torch.nn.Linear(2 * width, 1)  # w_g: which of the task's words matter
        self.ask = torch.nn.Linear(width, dim)  # W_a
        self.find = torch.nn.Linear(2 * width, dim)  # W_b
        self.prior = torch.nn.Linear(2 * width, 1)  # u: what kind of row is clicked (role, state)
        self.scale = torch.nn.Parameter(torch.tensor(4.0))  # tau
        self.empty = torch.nn.Parameter(torch.tensor(-4.0))  # a row with empty name and text cells

    def forward(self, query: torch.Tensor, states: torch.Tensor, embeds: torch.Tensor, table: Table) -> torch.Tensor:
        """`s_r` for every row of `table`: `query` is `[width]`; `states` and `embeds` are the prompt's final
        hidden states and input embeddings, `[length, width]` each."""
        unit = _unit(embeds.float())
        features = torch.cat([_unit(states.float()), unit], dim=-1)
        root = math.sqrt(self.dim)
        begin, end = table.context
        gates = (self.gate(features[begin:end]).squeeze(-1)
                 + self.find(features[begin:end]) @ self.ask(query.float()) / root)
        keys = self.match(unit)
        scores = []
        for (row_start, row_end), (cell_start, cell_end) in zip(table.rows, table.cells, strict=True):
            if cell_end > cell_start:
                pairs = self.scale * (keys[cell_start:cell_end] @ keys[begin:end].T) / root + gates
                match = torch.logsumexp(pairs.flatten(), dim=0)
            else:
                match = self.empty
            scores.append(match + self.prior(features[row_start:row_end].mean(0)).squeeze(-1))
        return torch.stack(scores)


def _unit(x: torch.Tensor) -> torch.Tensor:
    """`x` scaled to unit root-mean-square per row: a checkpoint's input embeddings are far smaller than its normed
    states (0.02 against 1 at initialization), and a name's match lives in the embeddings."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


def new_head(width: int, seed: int = 0) -> PointerHead:
    """A randomly initialized head, the same for the same width and seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PointerHead(width)


def load_head(head: PointerHead, directory: str | Path) -> bool:
    """Load `directory/pointer_head.safetensors` into `head`; False when there is none."""
    from safetensors.torch import load_file

    path = Path(directory) / HEAD_FILE
    if not path.is_file():
        return False
    try:
        head.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise ValueError(f"{path} does not fit this model (a head for another hidden size?): {exc}") from None
    return True


def save_head(head: PointerHead, directory: str | Path) -> None:
    from safetensors.torch import save_file

    Path(directory).mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()},
              str(Path(directory) / HEAD_FILE))


class TokenText:
    """The text of each token id (cached): what finds the table's rows and the `tag_` triggers in token ids."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._pieces: dict[int, str] = {}

    def piece(self, token_id: int) -> str:
        if token_id not in self._pieces:
            self._pieces[token_id] = self.tokenizer.decode([token_id])
        return self._pieces[token_id]

    def digits(self) -> dict[str, int]:
        """Token id of each digit 0-9 (every digit must be one token)."""
        ids = {}
        for digit in "0123456789":
            encoded = self.tokenizer(digit, add_special_tokens=False)["input_ids"]
            if len(encoded) != 1:
                raise ValueError(f"the pointer head writes tag numbers digit by digit, but this tokenizer makes "
                                 f"{digit!r} {len(encoded)} tokens; set model.pointer_head = false")
            ids[digit] = encoded[0]
        return ids

    def table(self, input_ids: Sequence[int], end: int | None = None) -> Table | None:
        """Where the task line and the tagged table's rows (row N is item N - 1) lie in `input_ids[:end]`, as
        token spans (the tokens that overlap each piece of text); None without a table."""
        ids = list(input_ids[:end])
        starts, offset = [], 0
        for token_id in ids:
            starts.append(offset)
            offset += len(self.piece(token_id))
        joined = "".join(self.piece(t) for t in ids)
        header = joined.rfind(_HEADER)
        if header < 0 or "\n" not in joined[header:]:
            return None

        def tokens(begin: int, finish: int) -> tuple[int, int]:
            first = bisect.bisect_right(starts, begin) - 1
            last = bisect.bisect_left(starts, finish) if finish > begin else first
            return first, last

        task = joined.rfind(_TASK, 0, header)
        task_end = joined.find("\n", task) if task >= 0 else -1
        rows, cells = [], []
        position = joined.index("\n", header) + 1
        while (match := _ROW.match(joined, position)) is not None and int(match.group(1)) == len(rows) + 1:
            fields = match.group(0).split("\t")
            name = match.start() + len(fields[0]) + len(fields[1]) + 2
            rows.append(tokens(match.start(), match.end()))
            cells.append(tokens(name, name + len(fields[2]) + 1 + len(fields[3])) if len(fields) > 3 else
                         (rows[-1][0], rows[-1][0]))
            if match.end() >= len(joined) or joined[match.end()] != "\n":
                break
            position = match.end() + 1
        if not rows:
            return None
        context = tokens(task + len(_TASK), task_end) if task_end > task >= 0 else (0, rows[0][0])
        return Table(context, rows, cells)

    def sites(self, reply: Sequence[int]) -> Iterator[tuple[int, int, int]]:
        """(index of the token ending `tag_`, number of digit tokens after it, the number) for each trigger in a
        reply's token ids that is followed by digits."""
        text = ""
        index = 0
        while index < len(reply):
            text += self.piece(reply[index])
            index += 1
            if text.endswith(TRIGGER):
                count = 0
                while index + count < len(reply) and self.piece(reply[index + count]).isdigit():
                    count += 1
                if count:
                    number = int("".join(self.piece(t) for t in reply[index : index + count]))
                    yield index - 1, count, number
                    text += "".join(self.piece(t) for t in reply[index : index + count])
                    index += count


@contextmanager
def final_states(decoder_norm: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """The outputs of the decoder's final norm during the block: one `[batch, length, width]` tensor per forward
    pass (the prompt's, then one per generated token)."""
    captured: list[torch.Tensor] = []
    handle = decoder_norm.register_forward_hook(lambda _m, _i, output: captured.append(output))
    try:
        yield captured
    finally:
        handle.remove()


def decoder_norm(model: torch.nn.Module) -> torch.nn.Module:
    """The language model's final norm (whose output the LM head reads)."""
    decoder = model.get_decoder()
    for name in ("norm", "final_layernorm", "ln_f"):
        module = getattr(decoder, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    raise ValueError(f"cannot find the final norm of {type(decoder).__name__}; set model.pointer_head = false")


class PointerSampling:
    """A logits processor: where a row's reply has just written `tag_`, the head picks the element (sampled with the
    row's own generator, or its argmax) and the next tokens are forced to its digits; the token after them is
    sampled without the digits, so the number written is the head's. Placed before `SeededSampling`.

    `chosen[row]` maps each forced step (index into the reply) to its log-probability: the head's for the first
    digit, 0 for the rest; `closed[row]` holds the steps sampled without digits. The caller puts both in place of
    the language model's log-probs.
    """

    def __init__(self, head: PointerHead, text: TokenText, captured: list[torch.Tensor], width: int,
                 pads: Sequence[int], tables: Sequence[Table | None], embeds: Sequence[torch.Tensor],
                 generators: Sequence[torch.Generator] | None, temperature: float) -> None:
        self.head, self.text, self.captured, self.embeds = head, text, captured, embeds
        self.width, self.pads, self.tables = width, list(pads), tables
        self.generators, self.temperature = generators, temperature
        self.digit_ids = text.digits()
        self.queue: list[list[int]] = [[] for _ in pads]
        self.closing = [False for _ in pads]
        self.chosen: list[dict[int, float]] = [{} for _ in pads]
        self.closed: list[set[int]] = [set() for _ in pads]
        self.prompt_states: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.width
        states = self.captured[-1]
        scores = scores.clone()  # generate keeps the tensor it passed in as the raw logits
        if self.prompt_states is None:
            self.prompt_states = states
        for row in range(input_ids.shape[0]):
            if self.closing[row] and not self.queue[row]:
                self.closing[row] = False
                self.closed[row].add(step)
                scores[row, list(self.digit_ids.values())] = float("-inf")  # the number ends where the head's does
                continue
            if not self.queue[row]:
                reply = input_ids[row, self.width :].tolist()
                table = self.tables[row]
                if not reply or table is None:
                    continue
                if not "".join(self.text.piece(t) for t in reply).endswith(TRIGGER):
                    continue
                with torch.no_grad():
                    logits = self.head(states[row, -1], self.prompt_states[row, self.pads[row] :],
                                       self.embeds[row], table).div(self.temperature)
                log_probs = logits.log_softmax(-1).cpu()
                if self.generators is None:
                    index = int(log_probs.argmax())
                else:
                    index = int(torch.multinomial(log_probs.exp(), 1, generator=self.generators[row]))
                self.queue[row] = [self.digit_ids[d] for d in str(index + 1)]
                self.chosen[row][step] = float(log_probs[index])
            else:
                self.chosen[row][step] = 0.0
            forced = self.queue[row].pop(0)
            self.closing[row] = True
            scores[row] = float("-inf")
            scores[row, forced] = 0.0
        return scores


@dataclass
class Site:
    """A `tag_N` in a reply, as indices into the caller's row of reply tokens."""

    first: int
    """The number's first digit: its log-prob is the head's `log_prob`."""
    rest: list[int]
    """The number's other digits (log-prob 0)."""
    after: int | None
    """The token after the number, sampled without digits; None at the reply's end."""
    log_prob: torch.Tensor
    entropy: torch.Tensor


def head_sites(head: PointerHead, text: TokenText, states: torch.Tensor, embed: Callable[[Sequence[int]], torch.Tensor],
               input_ids: Sequence[int], pad: int, reply_positions: Sequence[int], temperature: float,
               position_index: Callable[[int], int]) -> list[Site]:
    """The `tag_N` sites of one padded row of a forward pass (`states`: its final hidden states; `embed`: token ids
    to input embeddings). `reply_positions` are the reply tokens' positions in the unpadded sequence;
    `position_index(p)` is the index of position `p` in the caller's row of reply tokens."""
    prompt = reply_positions[0] if reply_positions else len(input_ids)
    table = text.table(input_ids, prompt)
    out: list[Site] = []
    if table is None:
        return out
    embeds = embed(input_ids[:prompt])
    reply = [input_ids[p] for p in reply_positions]
    for trigger, count, number in text.sites(reply):
        if not 1 <= number <= len(table.rows):
            continue  # a number the head did not choose (a demonstration's tag beyond the table): the text's
        query = states[pad + reply_positions[trigger]]
        logits = head(query, states[pad : pad + prompt], embeds, table).div(temperature)
        log_probs = logits.log_softmax(-1)
        entropy = -(log_probs.exp() * log_probs).sum().detach()
        first = position_index(reply_positions[trigger + 1])
        rest = [position_index(reply_positions[trigger + 1 + k]) for k in range(1, count)]
        end = trigger + 1 + count
        after = position_index(reply_positions[end]) if end < len(reply_positions) else None
        out.append(Site(first, rest, after, log_probs[number - 1], entropy))
    return out
