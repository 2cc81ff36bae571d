// What every tab shares: the chosen model and the method descriptions.

import type { MethodSpec } from "./types";

export interface AppContext {
  /** The model chosen in the header (null: the server's default). */
  model(): string | null;
  /** Every model the server can serve (loaded, default, bundled), and its default. */
  modelNames: string[];
  defaultModel: string;
  methods: MethodSpec[];
  /** Open a logged record in the monitor (from the projector or elsewhere). */
  openRecord(id: string): void;
}
