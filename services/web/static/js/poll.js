// One panel's polling of its part of the API, until stopped.  Each round calls
// `step(round)`, which fetches with `round.signal` and shows what came, and may set
// `round.every` (ms) for the next one.  A 403 refuses the panel (`refused(sentence)`), a 401
// ends its polling (the page asks for a token again), any other error is said in `source`.
// Returns the function that stops it.

import { Refusal } from "./api.js";
import { say } from "./dom.js";

export function pollEvery(step, { every, source, refused }) {
  const stop = new AbortController();
  let timer = null;
  const round = async () => {
    const current = { signal: stop.signal, every };
    try {
      await step(current);
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error instanceof Refusal && (error.status === 401 || error.status === 403)) {
        if (error.status === 403) refused(error.message);
        return;
      }
      say(source, error.message);
    }
    if (!stop.signal.aborted) timer = setTimeout(round, current.every);
  };
  round();
  return () => {
    clearTimeout(timer);
    stop.abort();
  };
}
