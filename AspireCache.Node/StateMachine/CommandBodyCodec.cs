using System.Buffers;
using static AspireCache.Node.StateMachine.WireFormat;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// Encodes and decodes one <see cref="CacheCommand"/> inside a log entry (see <see cref="CommandCodec"/>
/// for the entry around it):
/// <code>
/// command := tag [idempotency-key] [writer] [condition] [options] body
///            (tag bits: 0x80 idempotency key follows · 0x40 condition · 0x20 set options
///             · 0x10 writer follows; the low four bits are the command)
/// writer  := len:varint utf8-bytes (the credential's name; entries written before it existed have none)
/// condition := expected:zigzag-varint64 (set/delete) | count:varint (key expected)* (batch)
/// options := ttlMs:varint64 pinned:u8
/// body    := (1 set) key value | (2 delete) key | (3 batch) setCount (key value)* deleteCount key*
///          | (4 remove) count (key version:varint64)* reason:u8
/// key     := len:varint utf8-bytes          value := len:varint bytes
/// </code>
/// </summary>
internal static class CommandBodyCodec
{
    public const byte SetTag = 1;
    public const byte DeleteTag = 2;
    public const byte BatchTag = 3;
    public const byte RemoveTag = 4;
    private const byte HasIdempotencyKey = 0x80;
    private const byte HasCondition = 0x40;
    private const byte HasOptions = 0x20;
    private const byte HasWriter = 0x10;
    private const byte TagMask = 0x0F;

    /// <summary>
    /// Writes <paramref name="command"/>; without <paramref name="includeIdempotencyKey"/> the bytes are
    /// those of the same command with no key and no writer (what the idempotency fingerprint hashes:
    /// a retry is the same request whoever's name it carries, and fingerprints recorded before the
    /// writer existed stay valid).
    /// </summary>
    public static void Write(IBufferWriter<byte> writer, CacheCommand command, bool includeIdempotencyKey = true)
    {
        var tag = command switch
        {
            SetCommand => SetTag,
            DeleteCommand => DeleteTag,
            BatchCommand => BatchTag,
            RemoveCommand => RemoveTag,
            _ => throw new ArgumentException($"Unknown command type {command.GetType().Name}.", nameof(command)),
        };
        var condition = command switch
        {
            SetCommand { ExpectedVersion: not null } => true,
            DeleteCommand { ExpectedVersion: not null } => true,
            BatchCommand { Conditions.Count: > 0 } => true,
            _ => false,
        };
        var options = command is SetCommand { TtlMs: not 0 } or SetCommand { Pinned: true };
        var idempotencyKey = includeIdempotencyKey ? command.IdempotencyKey : null;
        var author = includeIdempotencyKey ? command.Writer : null;
        if (author is not null && command is RemoveCommand)
        {
            // Never written: the decoder refuses it (below), so an entry carrying one could never be applied.
            throw new ArgumentException("A leader-decided removal carries no writer.", nameof(command));
        }

        var flags = (byte)(tag
            | (idempotencyKey is null ? 0 : HasIdempotencyKey)
            | (author is null ? 0 : HasWriter)
            | (condition ? HasCondition : 0)
            | (options ? HasOptions : 0));
        WriteByte(writer, flags);
        if (idempotencyKey is not null)
        {
            WriteKey(writer, idempotencyKey);
        }

        if (author is not null)
        {
            WriteKey(writer, author);
        }

        if (condition)
        {
            switch (command)
            {
                case SetCommand { ExpectedVersion: { } expected }:
                    WriteVarint64(writer, ZigZag(expected));
                    break;
                case DeleteCommand { ExpectedVersion: { } expected }:
                    WriteVarint64(writer, ZigZag(expected));
                    break;
                case BatchCommand b:
                    WriteVarint(writer, (uint)b.Conditions.Count);
                    foreach (var (key, expected) in b.Conditions)
                    {
                        WriteKey(writer, key);
                        WriteVarint64(writer, ZigZag(expected));
                    }

                    break;
            }
        }

        if (options && command is SetCommand withOptions)
        {
            WriteVarint64(writer, (ulong)withOptions.TtlMs);
            WriteByte(writer, withOptions.Pinned ? (byte)1 : (byte)0);
        }

        switch (command)
        {
            case SetCommand set:
                WriteKey(writer, set.Key);
                WriteBytes(writer, set.Value.Span);
                break;
            case DeleteCommand delete:
                WriteKey(writer, delete.Key);
                break;
            case BatchCommand b:
                WriteVarint(writer, (uint)b.Sets.Count);
                foreach (var (key, value) in b.Sets)
                {
                    WriteKey(writer, key);
                    WriteBytes(writer, value.Span);
                }

                WriteVarint(writer, (uint)b.Deletes.Count);
                foreach (var key in b.Deletes)
                {
                    WriteKey(writer, key);
                }

                break;
            case RemoveCommand remove:
                WriteVarint(writer, (uint)remove.Keys.Count);
                foreach (var (key, version) in remove.Keys)
                {
                    WriteKey(writer, key);
                    WriteVarint64(writer, (ulong)version);
                }

                WriteByte(writer, (byte)remove.Reason);
                break;
        }
    }

    public static CacheCommand Read(ref PayloadReader reader)
    {
        var tag = reader.ReadByte();
        var idempotencyKey = (tag & HasIdempotencyKey) != 0 ? reader.ReadKey() : null;
        var author = (tag & HasWriter) != 0 ? reader.ReadKey() : null;
        long? expected = null;
        List<KeyValuePair<string, long>>? conditions = null;
        if ((tag & HasCondition) != 0)
        {
            if ((tag & TagMask) == BatchTag)
            {
                var count = reader.ReadCount();
                conditions = new List<KeyValuePair<string, long>>(Math.Min(count, 1024));
                for (var c = 0; c < count; c++)
                {
                    var key = reader.ReadKey();
                    conditions.Add(new(key, UnZigZag(reader.ReadVarint64())));
                }
            }
            else
            {
                expected = UnZigZag(reader.ReadVarint64());
            }
        }

        long ttl = 0;
        var pinned = false;
        if ((tag & HasOptions) != 0)
        {
            ttl = (long)reader.ReadVarint64();
            pinned = reader.ReadByte() != 0;
        }

        CacheCommand command = (tag & TagMask) switch
        {
            SetTag => new SetCommand(reader.ReadKey(), reader.ReadBytes()) { ExpectedVersion = expected, TtlMs = ttl, Pinned = pinned },
            DeleteTag => new DeleteCommand(reader.ReadKey()) { ExpectedVersion = expected },
            BatchTag => ReadBatch(ref reader) with { Conditions = conditions ?? [] },
            RemoveTag => ReadRemove(ref reader),
            // A command this node does not know (a newer node wrote it): other replicas may apply it, so this one must not skip it.
            _ => throw new CommandFormatException($"Unknown command tag {tag}.") { Unreadable = true },
        };
        if (author is not null && command is RemoveCommand)
        {
            throw new CommandFormatException("A leader-decided removal carries no writer.");
        }

        return idempotencyKey is null && author is null ? command : command with { IdempotencyKey = idempotencyKey, Writer = author };
    }

    /// <summary>A size hint for the encoded command (no exactness needed).</summary>
    public static int EstimateSize(CacheCommand command) => command switch
    {
        SetCommand s => 12 + (s.Key.Length * 3) + s.Value.Length,
        DeleteCommand d => 6 + (d.Key.Length * 3),
        BatchCommand b => 12 + b.Sets.Sum(kv => 10 + (kv.Key.Length * 3) + kv.Value.Length) + b.Deletes.Sum(k => 5 + (k.Length * 3)) + b.Conditions.Sum(c => 15 + (c.Key.Length * 3)),
        RemoveCommand r => 8 + r.Keys.Sum(k => 15 + (k.Key.Length * 3)),
        _ => 0,
    } + (command.IdempotencyKey is { } idempotencyKey ? 5 + (idempotencyKey.Length * 3) : 0)
      + (command.Writer is { } author ? 5 + (author.Length * 3) : 0);

    private static BatchCommand ReadBatch(ref PayloadReader reader)
    {
        var setCount = reader.ReadCount();
        var sets = new List<KeyValuePair<string, ReadOnlyMemory<byte>>>(Math.Min(setCount, 1024));
        for (var i = 0; i < setCount; i++)
        {
            var key = reader.ReadKey();
            sets.Add(new(key, reader.ReadBytes()));
        }

        var deleteCount = reader.ReadCount();
        var deletes = new List<string>(Math.Min(deleteCount, 1024));
        for (var i = 0; i < deleteCount; i++)
        {
            deletes.Add(reader.ReadKey());
        }

        return new BatchCommand(sets, deletes);
    }

    private static RemoveCommand ReadRemove(ref PayloadReader reader)
    {
        var count = reader.ReadCount();
        var keys = new List<KeyValuePair<string, long>>(Math.Min(count, 1024));
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadKey();
            keys.Add(new(key, (long)reader.ReadVarint64()));
        }

        var reason = reader.ReadByte();
        if (reason is not ((byte)RemovalReason.Expired or (byte)RemovalReason.Evicted))
        {
            throw new CommandFormatException($"Unknown removal reason {reason}.") { Unreadable = true }; // as an unknown tag
        }

        return new RemoveCommand(keys, (RemovalReason)reason);
    }
}
