// Noticing a client that goes away while its answer is still being computed. Hummingbird allows remote
// half-closure, so a closed client socket shows up as an inbound EOF event, not as a closed channel; a
// pass-through handler at the front of the connection's pipeline sees that event (or the channel going
// inactive) and cancels the request's sequence, which the engine frees at its next step.
import Hummingbird
import NIOCore

/// The request context: Hummingbird's basics plus the connection, to watch it.
struct ServeContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

final class DisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let onClose: @Sendable () -> Void

    init(onClose: @escaping @Sendable () -> Void) { self.onClose = onClose }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { onClose() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose()
        context.fireChannelInactive()
    }

    /// Watches `channel` while `operation` runs.
    static func watching<T>(_ channel: any Channel, onClose: @escaping @Sendable () -> Void,
                            _ operation: () async throws -> T) async throws -> T {
        let watcher = DisconnectWatcher(onClose: onClose)
        try? await channel.pipeline.addHandler(watcher, position: .first).get()
        if !channel.isActive { onClose() }
        defer { channel.pipeline.removeHandler(watcher).whenComplete { _ in } }
        return try await operation()
    }
}
