using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace AspireCache.Bench;

/// <summary>
/// <c>--mode wal-sync</c> (Linux): what making one replication round's log entry durable costs on this disk, in
/// the two ways a Raft log can do it, with no cluster and no network. Each round appends one entry of
/// <see cref="BenchOptions.EntryBytes"/> bytes and waits until it is durable:
/// <list type="bullet">
/// <item><b>dotnext</b> — what DotNext 6.12's <c>WriteAheadLog</c> does per flush (its default, memory-mapped
/// pages): the entry is copied into a shared mapping of the data file and 64 bytes of metadata into a mapping of
/// the metadata file, and both are <c>msync</c>ed — the whole 4 MiB data page (<c>Cluster:WalPageBytes</c>) the
/// entry is in, as DotNext flushes a page's whole view, and the metadata's 4 KiB — the data page's on a thread-pool
/// thread, concurrently; then the checkpoint (8 bytes) is written to a file opened with
/// <c>FileOptions.WriteThrough</c> (<c>O_SYNC</c> on Linux). Read in the 6.12 assembly (session 30), DotNext's
/// mapped pages do it in another order: the two <c>msync</c>s one after the other on its flusher, then the
/// 20-byte checkpoint through an asynchronous handle, i.e. on a thread-pool thread. The same three synchronous
/// writes and one thread hop, not the same overlap. DotNext
/// creates each page file sparse (its mapping extends it), so the first write to a block allocates it.</item>
/// <item><b>dotnext-pw</b> — the same on page files whose blocks were written (zero-filled and synced) before the
/// rounds: what DotNext's flush would cost if its page files were preallocated as etcd's segments are.</item>
/// <item><b>private</b> — the same WAL with <c>Cluster:WalMemory=PrivateMemory</c>: per flush, the data page's and
/// the metadata page's files are opened with <c>WriteThrough</c> (<c>O_SYNC</c>), the changed range written and the files closed
/// (concurrently), then the checkpoint as above.</item>
/// <item><b>append</b> — what etcd's WAL does per batch: one <c>pwrite</c> of the entry and its metadata to a
/// preallocated log file (zero-filled and synced before the rounds, as etcd preallocates its segments), then one
/// <c>fdatasync</c>.</item>
/// </list>
/// Per variant: wall time per round (p50, p99, mean) and this process's CPU time per round (user + kernel,
/// <see cref="Environment.CpuUsage"/>). A short warm-up pass of every variant runs first (JIT), unreported, and
/// the order of the variants rotates from pass to pass.
/// Files go to <see cref="BenchOptions.DataDirectory"/> (it must be on the disk being measured; not tmpfs) and are
/// deleted afterwards.
/// </summary>
public static partial class WalSyncProbe
{
    private const int PageBytes = 4096;
    private const int MetadataBytes = 64;

    /// <summary>The node's WAL data page (<c>Cluster:WalPageBytes</c>): DotNext maps each as a view and flushes the whole view.</summary>
    private const long DataPageBytes = 4 * 1024 * 1024;

    public sealed record Result(string Variant, int Rounds, double P50Us, double P99Us, double MeanUs, double CpuUs);

    public static IReadOnlyList<Result> Run(BenchOptions options, TextWriter output)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("--mode wal-sync measures Linux system calls (msync, fdatasync).");
        }

        var directory = Path.Combine(options.DataDirectory ?? Directory.GetCurrentDirectory(), $"wal-sync-{Environment.ProcessId}");
        Directory.CreateDirectory(directory);
        try
        {
            output.WriteLine($"wal-sync: {options.Rounds} rounds of {options.EntryBytes} bytes per variant in {directory}");
            Func<string, int, int, Result>[] variants =
            [
                static (d, r, e) => RunDotNextLike(d, r, e, prewritten: false),
                static (d, r, e) => RunDotNextLike(d, r, e, prewritten: true),
                RunDotNextPrivate,
                RunAppend,
            ];
            foreach (var variant in variants)
            {
                variant(directory, Math.Min(options.Rounds, 50), options.EntryBytes); // warm-up (JIT), not reported
            }

            var results = new List<Result>();
            for (var pass = 0; pass < options.Passes; pass++)
            {
                for (var i = 0; i < variants.Length; i++)
                {
                    results.Add(variants[(i + pass) % variants.Length](directory, options.Rounds, options.EntryBytes));
                }
            }

            output.WriteLine($"{"variant",-10} {"rounds",7} {"p50_us",8} {"p99_us",8} {"mean_us",8} {"cpu_us",8}");
            foreach (var r in results)
            {
                output.WriteLine($"{r.Variant,-10} {r.Rounds,7} {r.P50Us,8:0} {r.P99Us,8:0} {r.MeanUs,8:0} {r.CpuUs,8:0}");
            }

            return results;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static Result RunDotNextLike(string directory, int rounds, int entryBytes, bool prewritten)
    {
        var dataBytes = ((long)rounds * entryBytes / DataPageBytes + 2) * DataPageBytes;
        var metadataBytes = (long)rounds * MetadataBytes + PageBytes;
        using var data = Open(Path.Combine(directory, "data"), FileOptions.None, dataBytes);
        using var metadata = Open(Path.Combine(directory, "metadata"), FileOptions.None, metadataBytes);
        if (prewritten)
        {
            ZeroFill(data, dataBytes);
            ZeroFill(metadata, metadataBytes);
        }

        using var checkpoint = Open(Path.Combine(directory, "checkpoint"), FileOptions.WriteThrough, 0);
        nint dataMap = 0, metadataMap = 0;
        try
        {
            dataMap = Map(data, dataBytes);
            metadataMap = Map(metadata, metadataBytes);
            var entry = Payload(entryBytes);
            var meta = Payload(MetadataBytes);
            var checkpointBytes = new byte[8];
            return Measure(prewritten ? "dotnext-pw" : "dotnext", rounds, round =>
            {
                var offset = (long)round * entryBytes;
                var metaOffset = (long)round * MetadataBytes;
                Marshal.Copy(entry, 0, dataMap + (nint)offset, entryBytes);
                Marshal.Copy(meta, 0, metadataMap + (nint)metaOffset, MetadataBytes);
                var dataStart = offset & ~(DataPageBytes - 1); // the whole data page (view) the entry starts in, and the next if it runs over
                var dataEnd = (offset + entryBytes + DataPageBytes - 1) & ~(DataPageBytes - 1);
                var dataFlush = Task.Run(() => Sync(dataMap + (nint)dataStart, dataEnd - dataStart));
                var metaStart = metaOffset & ~(long)(PageBytes - 1);
                Sync(metadataMap + (nint)metaStart, metaOffset + MetadataBytes - metaStart);
                dataFlush.Wait();
                BitConverter.TryWriteBytes(checkpointBytes, (long)round);
                RandomAccess.Write(checkpoint, checkpointBytes, 0);
            });
        }
        finally
        {
            if (dataMap != 0)
            {
                _ = Munmap(dataMap, (nuint)dataBytes);
            }

            if (metadataMap != 0)
            {
                _ = Munmap(metadataMap, (nuint)metadataBytes);
            }
        }
    }

    private static Result RunDotNextPrivate(string directory, int rounds, int entryBytes)
    {
        // Cluster:WalMemory=PrivateMemory: pages live in private memory; a flush opens the page's file with
        // WriteThrough (O_SYNC), writes the changed range and closes it, for data and metadata concurrently.
        var dataPath = Path.Combine(directory, "data-private");
        var metadataPath = Path.Combine(directory, "metadata-private");
        using (Open(dataPath, FileOptions.None, DataPageBytes))
        using (Open(metadataPath, FileOptions.None, DataPageBytes))
        {
        }

        using var checkpoint = Open(Path.Combine(directory, "checkpoint-private"), FileOptions.WriteThrough, 0);
        var entry = Payload(entryBytes);
        var meta = Payload(MetadataBytes);
        var checkpointBytes = new byte[8];
        return Measure("private", rounds, round =>
        {
            var offset = (long)round * entryBytes % (DataPageBytes - entryBytes);
            var metaOffset = (long)round * MetadataBytes % (DataPageBytes - MetadataBytes);
            var dataFlush = Task.Run(() => WriteThrough(dataPath, entry, offset));
            WriteThrough(metadataPath, meta, metaOffset);
            dataFlush.Wait();
            BitConverter.TryWriteBytes(checkpointBytes, (long)round);
            RandomAccess.Write(checkpoint, checkpointBytes, 0);
        });

        static void WriteThrough(string path, byte[] bytes, long offset)
        {
            using var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, FileOptions.WriteThrough);
            RandomAccess.Write(handle, bytes, offset);
        }
    }

    private static Result RunAppend(string directory, int rounds, int entryBytes)
    {
        var recordBytes = entryBytes + MetadataBytes;
        var size = (long)rounds * recordBytes + PageBytes;
        using var log = Open(Path.Combine(directory, "log"), FileOptions.None, 0);
        ZeroFill(log, size); // blocks allocated and the size durable before the measured rounds, as with etcd's preallocated segments
        var record = Payload(recordBytes);
        return Measure("append", rounds, round =>
        {
            RandomAccess.Write(log, record, (long)round * recordBytes);
            Fdatasync(log);
        });
    }

    /// <summary>Writes zeros over the first <paramref name="size"/> bytes and makes them durable: every block allocated and written.</summary>
    private static void ZeroFill(SafeFileHandle file, long size)
    {
        var zeros = new byte[1024 * 1024];
        for (long offset = 0; offset < size; offset += zeros.Length)
        {
            RandomAccess.Write(file, zeros.AsSpan(0, (int)Math.Min(zeros.Length, size - offset)), offset);
        }

        Fdatasync(file);
    }

    private static Result Measure(string variant, int rounds, Action<int> round)
    {
        var latencies = new double[rounds];
        var cpuBefore = Environment.CpuUsage.TotalTime; // getrusage: microseconds, every thread of the process
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < rounds; i++)
        {
            var t = Stopwatch.GetTimestamp();
            round(i);
            latencies[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }

        var wall = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        var cpu = (Environment.CpuUsage.TotalTime - cpuBefore).TotalMicroseconds;
        Array.Sort(latencies);
        return new Result(variant, rounds, Percentiles.At(latencies, 0.50), Percentiles.At(latencies, 0.99), wall / rounds, cpu / rounds);
    }

    private static byte[] Payload(int bytes)
    {
        var payload = new byte[bytes];
        new Random(12345).NextBytes(payload);
        return payload;
    }

    private static SafeFileHandle Open(string path, FileOptions options, long size)
    {
        var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, options);
        if (size > 0)
        {
            RandomAccess.SetLength(handle, size);
        }

        return handle;
    }

    private static nint Map(SafeFileHandle file, long bytes)
    {
        const int ProtReadWrite = 0x1 | 0x2;
        const int MapShared = 0x01;
        var address = Mmap(0, (nuint)bytes, ProtReadWrite, MapShared, (int)file.DangerousGetHandle(), 0);
        if (address == -1)
        {
            throw new IOException($"mmap failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return address;
    }

    private static void Sync(nint address, long bytes)
    {
        const int MsSync = 4;
        if (Msync(address, (nuint)bytes, MsSync) != 0)
        {
            throw new IOException($"msync failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private static void Fdatasync(SafeFileHandle file)
    {
        if (FdatasyncNative((int)file.DangerousGetHandle()) != 0)
        {
            throw new IOException($"fdatasync failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "msync", SetLastError = true)]
    private static partial int Msync(nint address, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdatasyncNative(int fd);
}
