// What both kiosk clients tell a page, as DOM events: our websocket's AvatarClient
// (avatar-client.js) and pipecat WebRTC's WebRTCAvatarClient (webrtc-client.js)
// emit the same `state`, `caption` and `notice` events, so a page takes either.
// Both follow a kiosk's presence (protocol v2.1) here too: `presence`,
// `visitor-arrived` and `visitor-left` events and `presenceState`.

import { parsePresenceEvent, plainWords, welcomePresence } from "./protocol.js";

export class ConversationEvents extends EventTarget {
  constructor() {
    super();
    /** @type {string} */ this.state = "idle";
    /** the bot's caption line is open: a reply's sentences extend it */
    this.botLineOpen = false;
    /** between bot-started-speaking and the reply's end (bot-stopped-speaking or an interruption) */
    this.botSpeaking = false;
    /** @type {{code: string, message: string} | null} */ this.lastError = null;
    /** @type {{captions: number} & Record<string, number>} */ this.counts = { captions: 0 };
    /** @type {number[]} voice-to-voice per answered turn (ms) */ this.voiceToVoiceMs = [];
    /**
     * Where each turn's voice-to-voice went (ms, on this page's clock): `input`, the
     * visitor's last loud sound to the server's user-stopped-speaking event; `server`,
     * from there to bot-started-speaking (the reply's first audio written out); `output`,
     * from there to the reply heard. Events arrive on a channel beside the media (the
     * websocket itself, or WebRTC's data channel), so the parts show which side of the
     * server a transport adds its time to. A turn is recorded at its reply's end, so
     * bot-started-speaking has arrived by then; on a loaded server it can trail the voice
     * it announces (WebRTC's data channel and audio track travel apart), and `output`
     * is then negative: how long the event came after the reply was heard.
     * @type {{v2v: number, input: number | null, server: number | null, output: number | null}[]}
     */
    this.turnParts = [];
    /** @type {Record<string, number[]>} arrival times of the events that split a turn */
    this.eventTimes = { "user-stopped-speaking": [], "bot-started-speaking": [] };
    /**
     * A kiosk session's presence (the client asked with `presence: true` and the server
     * runs it): the welcome's settings and the state now; null otherwise.
     * @type {import("./protocol.js").PresenceInfo | null}
     */
    this.presence = null;
    /** visitors greeted and visits ended (`visitor-arrived`, `visitor-left`), over all sessions */
    this.visits = { arrived: 0, left: 0 };
  }

  /**
   * Where the kiosk's visitor is: "away" (nobody: attract mode), "approaching",
   * "engaged" or "leaving"; null when not connected or the session runs no presence.
   * @returns {"away"|"approaching"|"engaged"|"leaving"|null}
   */
  get presenceState() {
    return this.presence ? this.presence.state : null;
  }

  /**
   * A session started: its presence as the welcome (or the WebRTC answer) says,
   * null when it runs none.
   * @param {any} presence  `welcome.presence`
   */
  startPresence(presence) {
    this.presence = welcomePresence(presence);
  }

  /** The session ended: no presence until the next one says. */
  endPresence() {
    this.presence = null;
  }

  /**
   * The v2.1 presence events: `presence` (where the visitor is), `visitor-arrived`
   * (the greeting follows as ordinary speech) and `visitor-left` (the server forgot
   * the conversation: what this client kept of the visit is dropped too, and pages
   * clear their captions). Each is emitted under its own name.
   * @param {any} event
   * @returns {boolean} true for a presence event (the client has nothing left to do with it)
   */
  takePresenceEvent(event) {
    const parsed = parsePresenceEvent(event);
    if (!parsed) return false;  // not one (or a state this client does not know: ignored)
    if (parsed.type === "presence") {
      // a presence event without a welcome's settings (an older answer): the defaults
      this.presence = { ...(this.presence || welcomePresence({})), state: parsed.detail.state };
    } else if (parsed.type === "visitor-arrived") {
      this.visits.arrived++;
    } else {
      this.visits.left++;
      this.forgetVisit();
    }
    this.emit(parsed.type, parsed.detail);
    return true;
  }

  /** The visitor left: nothing of what they said may reach the next one. */
  forgetVisit() {
    this.botLineOpen = false;
  }

  /**
   * What both clients do first with one of our protocol's events: note when it
   * arrived, re-emit it as an `event`, and move the conversation on at the turn events.
   * @param {any} event
   * @returns {boolean} true for a turn event (the client has nothing left to do with it)
   */
  takeTurnEvent(event) {
    this.noteEvent(event);
    this.emit("event", event);
    switch (event.type) {
      case "user-started-speaking":
        if (this.state !== "speaking") this.setState("listening");
        return true;
      case "user-transcription":
        this.caption("user", event.text, event.final !== false);
        return true;
      case "user-stopped-speaking":
        // over a reply this was a backchannel or the start of a barge-in: the reply is
        // paused, then plays on or is interrupted (bot-interrupted), so it stays "speaking"
        if (!this.botSpeaking) this.setState("thinking");
        return true;
      case "bot-started-speaking":
        this.botSpeaking = true;
        this.botLineOpen = false;
        this.setState("speaking");
        return true;
      default:
        return false;
    }
  }

  /** Note when a protocol event arrived. @param {{type: string}} event */
  noteEvent(event) {
    const times = this.eventTimes[event.type];
    if (!times) return;
    times.push(performance.now());
    if (times.length > 200) times.shift();
  }

  /**
   * One answered turn: the visitor's last loud sound and the reply's onset as heard.
   * @param {number} spokeAt @param {number} heardAt
   */
  recordTurn(spokeAt, heardAt) {
    const v2v = heardAt - spokeAt;
    if (!(v2v >= 0 && v2v < 10000)) return;
    this.voiceToVoiceMs.push(v2v);
    const stopped = this.eventTimes["user-stopped-speaking"].find((t) => t > spokeAt && t < heardAt);
    const started = this.eventTimes["bot-started-speaking"].find((t) => t > (stopped ?? spokeAt));
    this.turnParts.push({
      v2v,
      input: stopped === undefined ? null : stopped - spokeAt,
      server: stopped === undefined || started === undefined ? null : started - stopped,
      output: started === undefined ? null : heardAt - started,
    });
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
