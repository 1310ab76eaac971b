// Types for the checker only (tests/js/tsconfig.json): the members that classes of widget/
// get from Object.assign(this, options). They live here rather than as JSDoc in the files
// because the chat page's modules have a size budget (tests/server/test_widget_http.py).
export {};

declare module '/widget/chat-core.js' {
  interface Chat {
    /** The tab's storage of the conversation (sessionStore()). */
    store: { load(): any; save(value: unknown): void; wipe(): void };
    /** Sends a frame to the server. */
    transmit(frame: object): unknown;
    /** Tells the page what happened: message, status, position, typing, state, problem, fatal, delFailed. */
    emit(event: string, data: object): void;
    /** A rekey's team bundle, fetched for its epoch. */
    fetchBundle(epoch: number): Promise<object>;
    team: string;
    topic: string | null;
    /** The team root key's pin the website gave, if any. */
    pin: string | null;
    /** The version of the consent text agreed to. */
    consent: string;
    /** The highest team epoch this tab has seen. */
    minEpoch?: number | null;
  }
}
