using System.Diagnostics;

namespace AspireCache.Node.Storage;

/// <summary>
/// An exclusive lock on a node's data directory (its WAL and snapshots), held for as long as the
/// node runs: two processes writing one WAL would corrupt it. The lock is an OS file lock on
/// <c>{data}/LOCK</c> (flock on Linux), so the kernel releases it when its process dies, even by
/// <c>kill -9</c>.
/// <para>
/// A restarted node may find its previous process still stopping (closing its WAL, flushing
/// telemetry): it waits up to <see cref="ClusterOptions.DataDirectoryLockWait"/>, then refuses to
/// start with a clear error. Seen before the lock existed: under Aspire a "Stop" could leave the
/// old process alive in its shutdown while the new one opened the same WAL.
/// </para>
/// <para>
/// Disposed by the DI container after DotNext's WAL (it is resolved before it), so the WAL is
/// closed before another process may open it.
/// </para>
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = "LOCK";

    private readonly FileStream _file;

    private DataDirectoryLock(FileStream file, string directory, TimeSpan waited)
    {
        _file = file;
        Directory = directory;
        Waited = waited;
    }

    public string Directory { get; }

    /// <summary>How long acquiring the lock waited for another holder.</summary>
    public TimeSpan Waited { get; }

    /// <summary>Takes the lock, waiting up to <paramref name="wait"/> for another holder to let go.</summary>
    /// <exception cref="InvalidOperationException">Another process still holds the directory after <paramref name="wait"/>.</exception>
    public static DataDirectoryLock Acquire(string directory, TimeSpan wait)
    {
        System.IO.Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                // FileShare.None: .NET takes an exclusive, non-blocking flock on Unix.
                var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                try
                {
                    file.SetLength(0);
                    file.Write(System.Text.Encoding.UTF8.GetBytes($"pid {Environment.ProcessId} since {DateTimeOffset.UtcNow:O}\n"));
                    file.Flush();
                }
                catch
                {
                    file.Dispose();
                    throw;
                }

                return new DataDirectoryLock(file, directory, Stopwatch.GetElapsedTime(started));
            }
            catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException)
            {
                if (Stopwatch.GetElapsedTime(started) >= wait)
                {
                    throw new InvalidOperationException(
                        $"The data directory '{directory}' is in use by another process (its {FileName} file is locked) and was not released within {wait.TotalSeconds:0.#} s. " +
                        "Another node process may still run with this directory: stop it, or give this node its own Cluster:DataDirectory.",
                        ex);
                }

                Thread.Sleep(100);
            }
        }
    }

    public void Dispose() => _file.Dispose();
}
