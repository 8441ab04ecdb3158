using System.Buffers;
using System.Globalization;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// Diagnostics only (<c>Cluster:ApplyTrace</c>): one line per applied entry,
/// <c>index term hash revision</c> (FNV-1a 64 of the payload; the state's revision after applying
/// it), and one per snapshot installed or restored, <c>index term installed|restored revision</c>.
/// Written through at once, so a paused or killed process leaves every line it applied. Replicas
/// that applied the same log have identical lines for every index both applied;
/// <c>verify/leader-pause.sh</c> and the process-fault test compare them.
/// </summary>
internal sealed class ApplyTrace(string path) : IDisposable
{
    private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };

    public static ulong Hash(in ReadOnlySequence<byte> payload)
    {
        var hash = 14695981039346656037UL;
        foreach (var segment in payload)
        {
            foreach (var b in segment.Span)
            {
                hash = (hash ^ b) * 1099511628211UL;
            }
        }

        return hash;
    }

    public void Entry(long index, long term, ulong hash, long revision) =>
        _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{index} {term} {hash:x16} {revision}"));

    public void Snapshot(long index, long term, string how, long revision) =>
        _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{index} {term} {how} {revision}"));

    public void Dispose() => _writer.Dispose();
}
