// /metrics in the Prometheus text format (swift-prometheus): requests and errors by kind, request latency
// and time to first token, and the engine's queue, batch, caches and token rates.
import Foundation
import Prometheus
import PrismVLM

final class ServerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let lock = NSLock()
    private var seen = EngineSnapshot()
    private var rateWindow: (time: Double, tokens: Int) = (0, 0)

    private let latencyBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    func request(endpoint: String, status: Int, seconds: Double) {
        registry.makeCounter(name: "prism_http_requests_total", labels: [("endpoint", endpoint), ("status", String(status))]).increment()
        registry.makeValueHistogram(name: "prism_http_request_duration_seconds", labels: [("endpoint", endpoint)],
                                    buckets: latencyBuckets).record(seconds)
    }

    func error(type: String) {
        registry.makeCounter(name: "prism_http_errors_total", labels: [("type", type)]).increment()
    }

    func timeToFirstToken(_ seconds: Double) {
        registry.makeValueHistogram(name: "prism_time_to_first_token_seconds", buckets: latencyBuckets).record(seconds)
    }

    func cancelled(reason: String) {
        registry.makeCounter(name: "prism_cancelled_requests_total", labels: [("reason", reason)]).increment()
    }

    /// Engine counters become Prometheus counters (by their growth since the last update) and gauges.
    func update(engine s: EngineSnapshot, waitingForAdmission: Int, samEmbeddings: Int?) {
        lock.lock()
        defer { lock.unlock() }
        func grow(_ name: String, _ now: Int, _ before: Int) {
            let counter = registry.makeCounter(name: name)
            if now > before { counter.increment(by: Int64(now - before)) }
        }
        grow("prism_generated_tokens_total", s.generatedTokens, seen.generatedTokens)
        grow("prism_prefilled_tokens_total", s.prefilledTokens, seen.prefilledTokens)
        grow("prism_cached_prompt_tokens_total", s.cachedPromptTokens, seen.cachedPromptTokens)
        grow("prism_images_encoded_total", s.imagesEncoded, seen.imagesEncoded)
        grow("prism_vision_passes_total", s.visionPasses, seen.visionPasses)
        grow("prism_engine_steps_total", s.steps, seen.steps)
        seen = s
        registry.makeGauge(name: "prism_queue_length").set(Double(s.waiting + waitingForAdmission))
        registry.makeGauge(name: "prism_running_sequences").set(Double(s.running))
        registry.makeGauge(name: "prism_batch_size").set(Double(s.lastBatchSequences))
        registry.makeGauge(name: "prism_batch_tokens").set(Double(s.lastBatchTokens))
        registry.makeGauge(name: "prism_prefix_cache_bytes").set(Double(s.prefixCacheBytes))
        registry.makeGauge(name: "prism_vision_cache_bytes").set(Double(s.visionCacheBytes))
        if let samEmbeddings { registry.makeGauge(name: "prism_sam_cached_embeddings").set(Double(samEmbeddings)) }
        // generated tokens per second over the time since the last update (at least one second apart)
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        if now - rateWindow.time >= 1 {
            if rateWindow.time > 0 {
                registry.makeGauge(name: "prism_generation_tokens_per_second")
                    .set(Double(s.generatedTokens - rateWindow.tokens) / (now - rateWindow.time))
            }
            rateWindow = (now, s.generatedTokens)
        }
    }

    var text: String { registry.emitToString() }
}
