// What both kiosk clients tell a page, as DOM events: our websocket's AvatarClient
// (avatar-client.js) and pipecat WebRTC's WebRTCAvatarClient (webrtc-client.js)
// emit the same `state`, `caption` and `notice` events, so a page takes either.

import { plainWords } from "./protocol.js";

export class ConversationEvents extends EventTarget {
  constructor() {
    super();
    /** @type {string} */ this.state = "idle";
    /** the bot's caption line is open: a reply's sentences extend it */
    this.botLineOpen = false;
    /** @type {{code: string, message: string} | null} */ this.lastError = null;
    /** @type {{captions: number} & Record<string, number>} */ this.counts = { captions: 0 };
  }

  /** @param {string} state */
  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit("state", { state });
  }

  /** @param {"user"|"bot"} role @param {string} text @param {boolean} final */
  caption(role, text, final) {
    if (!text) return;
    // a reply's sentences extend one bot line; each user utterance is its own line
    const append = role === "bot" && this.botLineOpen;
    this.botLineOpen = role === "bot";
    this.counts.captions++;
    this.emit("caption", { role, text, final, append });
  }

  /** @param {string} code @param {string} message @param {boolean} fatal */
  notice(code, message, fatal) {
    this.lastError = { code, message };
    this.emit("notice", { code, message, fatal, text: plainWords(code, message) });
  }

  /** @param {string} type @param {object} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
