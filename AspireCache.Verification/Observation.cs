namespace AspireCache.Verification;

/// <summary>
/// Which operations can observe the effect of which others. This decides when an operation can be removed from a
/// history without changing linearizability in the direction that matters:
/// <list type="bullet">
/// <item>a pure observer (known read, failed CAS, delete that found nothing) changes no state: removing it never
/// turns a linearizable history into a non-linearizable one;</item>
/// <item>a mutator M can be removed likewise when no remaining operation may observe M's effect on any of its keys
/// (in any linearization, the operations between M and the next overwrite of a key would behave the same without M,
/// and lower versions only loosen later checks).</item>
/// </list>
/// For an operation with an unknown outcome the converse holds too (it may never have taken effect), so an unknown
/// mutator nobody can observe is dropped before the search, and minimization only ever yields sub-histories that are
/// genuine witnesses: any linearization of the full history would restrict to one of them.
/// </summary>
internal static class Observation
{
    /// <summary>One key's change by a mutator: set to <see cref="Value"/> at <see cref="Version"/> (null: unrecorded), or deleted.</summary>
    internal readonly record struct Effect(string Key, bool Deletes, string? Value, long? Version);

    /// <summary>Known reads, failed CAS and deletes that found nothing: they never change the state.</summary>
    public static bool IsPureObserver(Operation op) => op.Known && op.Kind switch
    {
        OpKind.Read => true,
        OpKind.CompareAndSet => op.Success == false,
        OpKind.Delete => op.Success == false,
        _ => false,
    };

    /// <summary>What <paramref name="op"/> may change (nothing for a pure observer).</summary>
    public static List<Effect> Effects(Operation op, bool checkVersions)
    {
        var effects = new List<Effect>();
        if (IsPureObserver(op) || op.Kind == OpKind.Read)
        {
            return effects;
        }

        var version = checkVersions && op.Known ? op.Version : null;
        switch (op.Kind)
        {
            case OpKind.Write:
            case OpKind.CompareAndSet:
                effects.Add(new Effect(op.Key, false, op.Value, version));
                break;
            case OpKind.Delete:
                effects.Add(new Effect(op.Key, true, null, null));
                break;
            case OpKind.Batch:
                foreach (var (key, value) in op.BatchSet ?? new Dictionary<string, string>())
                {
                    effects.Add(new Effect(key, false, value, version));
                }

                foreach (var key in op.BatchDelete ?? [])
                {
                    effects.Add(new Effect(key, true, null, null));
                }

                break;
        }

        return effects;
    }

    /// <summary>
    /// Whether <paramref name="observer"/>, linearized while <paramref name="effect"/> is the latest change of its key,
    /// could behave differently (output or effect) had that change not happened.
    /// </summary>
    public static bool MayObserve(Operation observer, Effect effect, bool checkVersions)
    {
        if (observer.Kind == OpKind.Batch || observer.Kind == OpKind.Write || observer.Key != effect.Key)
        {
            return false; // blind writes behave the same whatever they overwrite (lower versions only loosen checks)
        }

        if (!observer.Known)
        {
            // Only an unknown CAS's effect depends on the state: it applies iff its expectation matches.
            if (observer.Kind != OpKind.CompareAndSet)
            {
                return false;
            }

            return effect.Deletes
                ? observer.ExpectedVersion is null
                : observer.ExpectedVersion is { } e && (effect.Version is null || effect.Version == e);
        }

        switch (observer.Kind)
        {
            case OpKind.Read:
                if (effect.Deletes)
                {
                    return observer.ReadValue is null;
                }

                return observer.ReadValue == effect.Value
                    && (!checkVersions || observer.Version is null || effect.Version is null || observer.Version == effect.Version);

            case OpKind.CompareAndSet:
                var expected = observer.ExpectedVersion;
                if (observer.Success == true)
                {
                    return effect.Deletes
                        ? expected is null
                        : expected is { } e && (effect.Version is null || effect.Version == e);
                }

                // A failure in the window needs the state not to match; without the effect it might match.
                return effect.Deletes
                    ? expected is not null
                    : expected is null || effect.Version is null || effect.Version != expected;

            case OpKind.Delete:
                return effect.Deletes ? observer.Success == false : observer.Success == true;

            default:
                return false;
        }
    }

    /// <summary>Whether removing <paramref name="op"/> keeps every linearizable super-history's restriction linearizable, given the others that remain.</summary>
    public static bool CanRemove(Operation op, IEnumerable<Operation> remaining, bool checkVersions)
    {
        var effects = Effects(op, checkVersions);
        if (effects.Count == 0)
        {
            return true;
        }

        foreach (var other in remaining)
        {
            if (ReferenceEquals(other, op))
            {
                continue;
            }

            foreach (var effect in effects)
            {
                if (MayObserve(other, effect, checkVersions))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// Drops unknown-outcome mutators that no other operation may observe (repeatedly, since dropping one can free
    /// another). The result is linearizable iff the input is.
    /// </summary>
    public static List<Operation> DropUnobservableUnknowns(List<Operation> ops, bool checkVersions)
    {
        var current = ops;
        while (true)
        {
            var droppable = new HashSet<Operation>(ReferenceEqualityComparer.Instance);
            foreach (var op in current)
            {
                if (!op.Known && CanRemove(op, current.Where(o => !droppable.Contains(o)), checkVersions))
                {
                    droppable.Add(op);
                }
            }

            if (droppable.Count == 0)
            {
                return current;
            }

            current = current.Where(o => !droppable.Contains(o)).ToList();
        }
    }
}
