// Consumer lag (/api/v1/operators/lag): how far each consumer group of the bus's topics is
// behind, as the web front door last read it.

import { api } from "./api.js";
import { $, clear, el, refuse, say, when } from "./dom.js";
import { pollEvery } from "./poll.js";

export function startLag() {
  const section = $("#lag");
  const body = clear($("#lag-table tbody"));
  const source = $("#lag-source");
  refuse(section, "");
  $("#lag-table").hidden = false;

  const step = async (round) => {
    const answer = await api("/api/v1/operators/lag", { signal: round.signal });
    if (answer.interval_s) round.every = Math.max(1000, Math.min(answer.interval_s * 1000, 15000));
    clear(body);
    for (const group of answer.groups) {
      const partitions = group.partitions
        .map((p) => `${p.topic} ${p.partition}: ${p.lag ?? "?"}`)
        .join(", ");
      body.append(
        el(
          "tr",
          { data: { group: group.group } },
          el("td", { text: group.group }),
          el("td", { class: "number", "data-figure": "lag", text: group.lag }),
          el("td", { class: "muted", text: partitions }),
        ),
      );
    }
    say(
      source,
      answer.error
        ? answer.error
        : answer.read_at
          ? `Read ${when(answer.read_at)}, every ${answer.interval_s} s.`
          : "Not read yet.",
    );
  };

  return pollEvery(step, { every: 5000, source, refused: refuseLag });
}

export function refuseLag(sentence) {
  refuse($("#lag"), sentence);
  clear($("#lag-table tbody"));
  $("#lag-table").hidden = true;
  say($("#lag-source"), "");
}
