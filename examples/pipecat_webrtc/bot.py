"""The bot: a plain pipecat voice pipeline with the Avatar Forcing face in it.

One bot per browser connection, as in pipecat's own WebRTC examples. Speech
recognition, the LLM and speech synthesis are pipecat's stock services pointed
at models that ship in PyPI packages, so nothing is downloaded and no key is
needed; swap any of them for a cloud service and the face stays the same.
"""

from __future__ import annotations

from typing import NamedTuple

from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.base_transport import TransportParams, VideoInSourceParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.workers.runner import WorkerRunner

from agent.bundled_models import piper_voice, whisper_model_dir
from pipelines import AvatarForcingVideoService

SYSTEM_PROMPT = (
    "You are Robin, the voice assistant of Riverside Cycles, a bike shop. On weekdays and "
    "Saturdays the shop opens at 9 am and closes at 6 pm. On Sundays it opens at 10 am and "
    "closes at 4 pm. Your words are spoken aloud: answer in one short, complete sentence, "
    "with no lists, emojis or symbols."
)


class LLMEndpoint(NamedTuple):
    """An OpenAI-compatible chat endpoint (main.py starts the embedded one by default)."""

    base_url: str
    api_key: str
    model: str


async def run_bot(webrtc_connection: SmallWebRTCConnection, llm_endpoint: LLMEndpoint) -> None:
    """Run one conversation until the browser hangs up."""
    transport = SmallWebRTCTransport(
        webrtc_connection=webrtc_connection,
        params=TransportParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            # the visitor's camera: the face meets their gaze and smiles back
            video_in_enabled=True,
            video_in_sources={"camera": VideoInSourceParams(framerate=10)},
            # as in pipecat's own avatar examples: the face's service fits this output
            # with tracks on one media clock, so the browser keeps the lips on the voice
            video_out_enabled=True,
            video_out_is_live=True,
            video_out_width=512,
            video_out_height=512,
        ),
    )

    # pipecat's own services on the bundled models. Pass the paths: by default
    # WhisperSTTService downloads distil-medium.en and PiperTTSService its voice.
    stt = WhisperSTTService(
        device="cpu",
        compute_type="int8",
        settings=WhisperSTTService.Settings(model=str(whisper_model_dir())),
    )
    voice = piper_voice()
    tts = PiperTTSService(
        download_dir=voice.data_dir,  # holds en_US-joe-medium.onnx: nothing to download
        settings=PiperTTSService.Settings(voice=voice.model.stem),
    )
    llm = OpenAILLMService(
        base_url=llm_endpoint.base_url,
        api_key=llm_endpoint.api_key,
        settings=OpenAILLMService.Settings(
            model=llm_endpoint.model,
            system_instruction=SYSTEM_PROMPT,
            max_tokens=80,
            temperature=0.0,  # a shop's assistant repeats its facts
        ),
    )

    context = LLMContext()
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer()),
    )

    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            user_aggregator,
            llm,
            tts,
            AvatarForcingVideoService(),  # TTS audio in, lip-synced video and audio out
            transport.output(),
            assistant_aggregator,
        ]
    )
    worker = PipelineWorker(pipeline, params=PipelineParams(enable_metrics=True))
    runner = WorkerRunner(handle_sigint=False)

    @transport.event_handler("on_client_connected")
    async def on_client_connected(transport: SmallWebRTCTransport, client: object) -> None:
        logger.info("Client connected")

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport: SmallWebRTCTransport, client: object) -> None:
        logger.info("Client disconnected")
        await runner.cancel()

    await runner.add_workers(worker)
    await runner.run()
