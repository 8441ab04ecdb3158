using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AspireCache.Node.Api;

/// <summary>Validates a batch request into one all-or-nothing <see cref="BatchCommand"/>.</summary>
public static class BatchParser
{
    public readonly record struct Parsed(BatchCommand? Command, ProblemHttpResult? Problem);

    public static Parsed Parse(BatchRequest? request, CacheLimitsOptions options)
    {
        var sets = request?.Set ?? [];
        var deletes = request?.Delete ?? [];
        var conditions = request?.If ?? [];
        if (sets.Count + deletes.Count == 0)
        {
            return Fail(Problems.BadRequest("Empty batch", "A batch needs at least one 'set' or 'delete'."));
        }

        if (sets.Count + deletes.Count > options.MaxBatchKeys || conditions.Count > options.MaxBatchKeys)
        {
            return Fail(Problems.TooLarge($"A batch holds at most {options.MaxBatchKeys} keys; this one has {sets.Count + deletes.Count}."));
        }

        var commandSets = new List<KeyValuePair<string, ReadOnlyMemory<byte>>>(sets.Count);
        foreach (var (key, base64) in sets)
        {
            if (KeyValidator.Validate(key, options.MaxKeyBytes) is { } invalid)
            {
                return Fail(Problems.InvalidKey($"'{key}': {invalid}"));
            }

            if (KeyValidator.IsReserved(key))
            {
                return Fail(Problems.InvalidKey($"'{key}' is reserved."));
            }

            byte[] value;
            try
            {
                value = Convert.FromBase64String(base64 ?? "");
            }
            catch (FormatException)
            {
                return Fail(Problems.BadRequest("Invalid value", $"The value of '{key}' is not valid base64."));
            }

            if (value.Length > options.MaxValueBytes)
            {
                return Fail(Problems.TooLarge($"The value of '{key}' exceeds the limit of {options.MaxValueBytes} bytes."));
            }

            commandSets.Add(new(key, value));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in deletes)
        {
            if (KeyValidator.Validate(key, options.MaxKeyBytes) is { } invalid)
            {
                return Fail(Problems.InvalidKey($"'{key}': {invalid}"));
            }

            if (sets.ContainsKey(key) || !seen.Add(key))
            {
                return Fail(Problems.BadRequest("Conflicting batch", $"'{key}' appears more than once in the batch."));
            }
        }

        var commandConditions = new List<KeyValuePair<string, long>>(conditions.Count);
        foreach (var (key, version) in conditions)
        {
            if (KeyValidator.Validate(key, options.MaxKeyBytes) is { } invalid)
            {
                return Fail(Problems.InvalidKey($"'{key}': {invalid}"));
            }

            if (version < ExpectedVersion.Any)
            {
                return Fail(Problems.BadRequest("Invalid condition", $"The condition on '{key}' must be a version, 0 (absent) or -1 (exists)."));
            }

            commandConditions.Add(new(key, version));
        }

        return new Parsed(new BatchCommand(commandSets, deletes) { Conditions = commandConditions }, null);
    }

    private static Parsed Fail(ProblemHttpResult problem) => new(null, problem);
}
