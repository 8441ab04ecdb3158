namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// A request body, with its headers, written through a stream that calls <c>afterWrite</c> (bytes
/// written, token) after every write and <c>sent</c> once the whole body is out. Used by
/// <see cref="CatchUpTransferHandler"/> to push a stall deadline back as a catch-up makes progress
/// (and by tests to slow a body down).
/// </summary>
internal sealed class ObservedContent : HttpContent
{
    private readonly HttpContent _inner;
    private readonly Func<int, CancellationToken, ValueTask> _afterWrite;
    private readonly Action? _sent;

    public ObservedContent(HttpContent inner, Func<int, CancellationToken, ValueTask> afterWrite, Action? sent = null)
    {
        _inner = inner;
        _afterWrite = afterWrite;
        _sent = sent;
        foreach (var (name, values) in inner.Headers.NonValidated)
        {
            Headers.TryAddWithoutValidation(name, values);
        }
    }

    /// <summary>Whether the whole body has gone out.</summary>
    public bool Sent { get; private set; }

    protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
    {
        await _inner.CopyToAsync(new ObservedStream(stream, _afterWrite), context, cancellationToken).ConfigureAwait(false);
        Sent = true;
        _sent?.Invoke();
    }

    protected override bool TryComputeLength(out long length)
    {
        length = _inner.Headers.ContentLength ?? 0;
        return _inner.Headers.ContentLength.HasValue;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private sealed class ObservedStream(Stream inner, Func<int, CancellationToken, ValueTask> afterWrite) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) =>
            WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            await afterWrite(buffer.Length, cancellationToken).ConfigureAwait(false);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
