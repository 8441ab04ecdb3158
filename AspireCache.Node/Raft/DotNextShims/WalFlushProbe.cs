using System.Reflection;
using System.Reflection.Emit;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Reads how far DotNext's <see cref="WriteAheadLog"/> is durable — the first index its background
/// flusher has not yet flushed and recorded in the checkpoint — without waiting on the WAL.
/// <para>
/// <see cref="WriteAheadLog.FlushAsync"/> cannot be used next to DotNext: it waits on an internal
/// single-waiter event (<c>flushCompleted</c>, an <c>AsyncAutoResetEventSlim</c>) that DotNext's own
/// commit path also waits on (a follower's commit inside AppendEntries, the leader's heartbeat
/// round). Two concurrent waiters lose wake-ups or crash the process: a node paused and resumed
/// under load died with "InvalidOperationException at AsyncAutoResetEventSlim.OnCompleted" on the
/// thread pool. So <see cref="DurableAppendMiddleware"/> polls this value instead.
/// </para>
/// <para>
/// DotNext 6.12 exposes no public flushed index; this reads the private
/// <c>flusherState.Value.UnflushedIndex</c> through <c>Atomic&lt;T&gt;.Value</c> (which takes the
/// atomic's lock, so the read is consistent). <see cref="Create"/> fails loudly if DotNext's
/// internals change, so an upgrade cannot silently drop the durability guarantee.
/// </para>
/// </summary>
internal static class WalFlushProbe
{
    /// <summary>Builds the reader, or throws when the referenced DotNext no longer has the expected shape.</summary>
    public static Func<WriteAheadLog, long> Create()
    {
        const BindingFlags instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var atomicField = typeof(WriteAheadLog).GetField("flusherState", instance);
        var valueGetter = atomicField?.FieldType.GetProperty("Value", instance)?.GetMethod;
        var stateType = valueGetter?.ReturnType;
        var unflushedField = stateType?.GetField("UnflushedIndex", instance);
        if (atomicField is null || valueGetter is null || stateType is null || unflushedField?.FieldType != typeof(long))
        {
            throw new NotSupportedException(
                $"DotNext's WriteAheadLog ({typeof(WriteAheadLog).Assembly.GetName().Version}) no longer has flusherState.Value.UnflushedIndex; " +
                "DurableAppendMiddleware cannot tell when appended entries are durable and must be updated for this DotNext version.");
        }

        var method = new DynamicMethod("ReadUnflushedIndex", typeof(long), [typeof(WriteAheadLog)], typeof(WriteAheadLog), skipVisibility: true);
        var il = method.GetILGenerator();
        var state = il.DeclareLocal(stateType);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldflda, atomicField); // in place: the atomic's lock is the real one, not a copy's
        il.Emit(OpCodes.Call, valueGetter);
        il.Emit(OpCodes.Stloc, state);
        il.Emit(OpCodes.Ldloca, state);
        il.Emit(OpCodes.Ldfld, unflushedField);
        il.Emit(OpCodes.Ret);
        return method.CreateDelegate<Func<WriteAheadLog, long>>();
    }
}
