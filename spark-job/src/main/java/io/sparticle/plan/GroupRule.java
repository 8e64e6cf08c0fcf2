package io.sparticle.plan;

import io.sparticle.quant.CodebookPrecision;
import io.sparticle.quant.EncodingSpec.Method;
import io.sparticle.quant.EncodingSpec.ScalePrecision;
import io.sparticle.quant.EncodingSpec.Scope;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One ordered rule of a job config: tensors whose whole name matches {@code match} are kept dense,
 * or compressed into the codebook group named by {@code group}.
 *
 * <p>{@code group} is a template: {@code $1}..{@code $9} stand for the regex's capture groups, so
 * {@code match: 'model\.layers\.(\d+)\.mlp\..*'} with {@code group: 'layers.$1.mlp'} gives one
 * codebook per layer's MLP. Without a group, each tensor gets its own codebook.
 *
 * @param match regex that must match the whole tensor name
 * @param group group-name template, or null for one group per tensor
 * @param bits code width 1..8, or null for the job's default
 * @param keepDense true to copy matching tensors unchanged
 * @param perTensorScale true to fit the group's codebook on RMS-normalized values, each tensor
 *     keeping its own scale; null means false
 * @param method, scope, blockSize, codebookPrecision, scalePrecision, outliers, vqDim, prune,
 *     entropy the encoding of matching
 *     tensors; null for the job's
 */
public record GroupRule(
    Pattern match, String group, Integer bits, boolean keepDense, boolean perTensorScale,
    Method method, Scope scope, Integer blockSize, CodebookPrecision codebookPrecision,
    ScalePrecision scalePrecision, Double outliers, Integer vqDim, Double prune,
    io.sparticle.quant.EncodingSpec.Entropy entropy)
    implements java.io.Serializable {

  /** A rule that sets no encoding keys. */
  public GroupRule(Pattern match, String group, Integer bits, boolean keepDense, boolean perTensorScale) {
    this(match, group, bits, keepDense, perTensorScale, null, null, null, null, null, null);
  }

  /** A rule without vq, pruning or entropy keys. */
  public GroupRule(Pattern match, String group, Integer bits, boolean keepDense,
      boolean perTensorScale, Method method, Scope scope, Integer blockSize,
      CodebookPrecision codebookPrecision, ScalePrecision scalePrecision, Double outliers) {
    this(match, group, bits, keepDense, perTensorScale, method, scope, blockSize,
        codebookPrecision, scalePrecision, outliers, null, null, null);
  }

  public GroupRule {
    if (match == null) {
      throw new IllegalArgumentException("A rule needs 'match'");
    }
    if (bits != null) {
      JobConfig.checkBits(bits);
    }
    if (keepDense && (group != null || bits != null || perTensorScale || method != null
        || scope != null || blockSize != null || codebookPrecision != null || scalePrecision != null
        || outliers != null || vqDim != null || prune != null || entropy != null)) {
      throw new IllegalArgumentException("Rule '" + match.pattern() + "': keep-dense cannot be "
          + "combined with group, bits, per-tensor-scale or encoding keys");
    }
    if (group != null) {
      checkTemplate(match, group);
    }
  }

  /** Patterns compare by identity; rules compare by their regex text and flags. */
  @Override
  public boolean equals(Object o) {
    return o instanceof GroupRule r && match.pattern().equals(r.match.pattern())
        && match.flags() == r.match.flags() && java.util.Objects.equals(group, r.group)
        && java.util.Objects.equals(bits, r.bits) && keepDense == r.keepDense
        && perTensorScale == r.perTensorScale && method == r.method && scope == r.scope
        && java.util.Objects.equals(blockSize, r.blockSize)
        && java.util.Objects.equals(codebookPrecision, r.codebookPrecision)
        && scalePrecision == r.scalePrecision && java.util.Objects.equals(outliers, r.outliers)
        && java.util.Objects.equals(vqDim, r.vqDim) && java.util.Objects.equals(prune, r.prune)
        && entropy == r.entropy;
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(match.pattern(), group, bits, keepDense, perTensorScale, method,
        scope);
  }

  /** The group name for a tensor this rule matched. */
  String groupName(Matcher m, String tensorName) {
    if (group == null) {
      return tensorName;
    }
    StringBuilder out = new StringBuilder(group.length() + 16);
    for (int i = 0; i < group.length(); i++) {
      char c = group.charAt(i);
      if (c == '$' && i + 1 < group.length() && Character.isDigit(group.charAt(i + 1))) {
        String g = m.group(group.charAt(i + 1) - '0');
        out.append(g == null ? "" : g);
        i++;
      } else {
        out.append(c);
      }
    }
    return out.toString();
  }

  private static void checkTemplate(Pattern match, String group) {
    if (group.isEmpty()) {
      throw new IllegalArgumentException("Rule '" + match.pattern() + "': group must not be empty");
    }
    int groups = match.matcher("").groupCount();
    for (int i = 0; i + 1 < group.length(); i++) {
      if (group.charAt(i) == '$' && Character.isDigit(group.charAt(i + 1))) {
        int n = group.charAt(i + 1) - '0';
        if (n == 0 || n > groups) {
          throw new IllegalArgumentException(
              "Rule '" + match.pattern() + "': group '" + group + "' uses $" + n
                  + " but the regex has " + groups + " capture group(s)");
        }
      }
    }
  }
}
