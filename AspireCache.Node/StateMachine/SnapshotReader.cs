namespace AspireCache.Node.StateMachine;

/// <summary>
/// Buffers a snapshot stream so records are parsed synchronously from a span: one awaited read per
/// buffer-full, not per record. The buffer grows for a record larger than it.
/// </summary>
internal sealed class SnapshotReader(Stream input, int bufferBytes = 1024 * 1024)
{
    private byte[] _buffer = new byte[bufferBytes];
    private int _start;
    private int _end;

    /// <summary>The bytes buffered and not yet taken.</summary>
    public ReadOnlySpan<byte> Buffered => _buffer.AsSpan(_start, _end - _start);

    /// <summary>Makes at least <paramref name="count"/> bytes available; <see cref="EndOfStreamException"/> if the stream ends first.</summary>
    public ValueTask EnsureAsync(int count, CancellationToken token) =>
        _end - _start >= count ? ValueTask.CompletedTask : FillAsync(count, token);

    /// <summary>Takes <paramref name="count"/> buffered bytes (after <see cref="EnsureAsync"/>).</summary>
    public ReadOnlySpan<byte> Take(int count)
    {
        var span = _buffer.AsSpan(_start, count);
        _start += count;
        return span;
    }

    private async ValueTask FillAsync(int count, CancellationToken token)
    {
        var buffered = _end - _start;
        if (count > _buffer.Length)
        {
            var larger = new byte[Math.Max(count, _buffer.Length * 2)];
            _buffer.AsSpan(_start, buffered).CopyTo(larger);
            _buffer = larger;
            (_start, _end) = (0, buffered);
        }
        else if (_buffer.Length - _start < count)
        {
            _buffer.AsSpan(_start, buffered).CopyTo(_buffer);
            (_start, _end) = (0, buffered);
        }

        while (_end - _start < count)
        {
            var read = await input.ReadAsync(_buffer.AsMemory(_end), token);
            if (read == 0)
            {
                throw new EndOfStreamException("The snapshot is truncated.");
            }

            _end += read;
        }
    }
}
