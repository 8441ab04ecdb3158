using System.Buffers;
using System.Globalization;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// Diagnostics only (<c>Cluster:ApplyTrace</c>): one line per applied entry, <c>index term hash</c>
/// (FNV-1a 64 of the payload), written through at once so that a paused or killed process leaves
/// every line it applied. Replicas that applied the same log have identical lines for every index
/// both applied; <c>verify/leader-pause.sh</c> compares them.
/// </summary>
internal sealed class ApplyTrace(string path) : IDisposable
{
    private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };

    public void Entry(long index, long term, in ReadOnlySequence<byte> payload)
    {
        var hash = 14695981039346656037UL;
        foreach (var segment in payload)
        {
            foreach (var b in segment.Span)
            {
                hash = (hash ^ b) * 1099511628211UL;
            }
        }

        _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{index} {term} {hash:x16}"));
    }

    public void Snapshot(long index, long term) =>
        _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{index} {term} snapshot"));

    public void Dispose() => _writer.Dispose();
}
