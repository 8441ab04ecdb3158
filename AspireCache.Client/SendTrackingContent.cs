using System.Net;

namespace AspireCache.Client;

/// <summary>
/// Wraps a write's body to learn whether any of it was handed to the connection. The node applies a write
/// only once it has read the whole body, so an attempt that failed or hit the deadline before its body
/// started (still connecting, or queued for a connection) certainly changed nothing: the call can say
/// "unavailable" instead of "outcome unknown".
/// </summary>
internal sealed class SendTrackingContent : HttpContent
{
    private readonly HttpContent _inner;
    private int _started;

    public SendTrackingContent(HttpContent inner)
    {
        _inner = inner;
        foreach (var header in inner.Headers)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    /// <summary>True once the handler began sending the body (from then on the write may have been applied).</summary>
    public bool Started => Volatile.Read(ref _started) == 1;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _started, 1);
        return _inner.CopyToAsync(stream, context, cancellationToken);
    }

    protected override bool TryComputeLength(out long length)
    {
        if (_inner.Headers.ContentLength is { } known)
        {
            length = known;
            return true;
        }

        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
