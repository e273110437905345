import pytest

from lstm_zoo.data import dataset_path
from lstm_zoo.data.conll import read_conll_columns, read_conllu
from lstm_zoo.data.tagging import build_tagging_vocabularies, encode_tagged, tagging_dataset

CONLLU = """# sent_id = 1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def test_conllu_skips_comments_ranges_and_empty_nodes(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text(CONLLU)
    sentences = read_conllu(path)
    assert sentences == [
        (["Do", "n't", "go", "."], ["AUX", "PART", "VERB", "PUNCT"]),
        (["Hi"], ["INTJ"]),
    ]
    assert read_conllu(path, tag_column="xpos")[0][1] == ["VBP", "RB", "VB", "."]


def test_conllu_bad_lines_name_file_and_line(tmp_path):
    path = tmp_path / "b.conllu"
    path.write_text("1\tHi\thi\tINTJ\n")
    with pytest.raises(ValueError, match=r"b.conllu:1: 4 tab-separated columns, expected 10"):
        read_conllu(path)
    path.write_text("# only a comment\n")
    with pytest.raises(ValueError, match="holds no sentences"):
        read_conllu(path)
    with pytest.raises(ValueError, match="tag_column"):
        read_conllu(path, tag_column="ner")


def test_conll2003_columns(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
    )
    assert read_conll_columns(path) == [(["EU", "rejects"], ["B-ORG", "O"]), (["Peter"], ["B-PER"])]
    assert read_conll_columns(path, tag_column=1)[0][1] == ["NNP", "VBZ"]
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ O\n")
    with pytest.raises(ValueError, match=r"ner.txt:2: 3 columns, expected 4"):
        read_conll_columns(path)


def test_vocabularies_and_padded_batches():
    sentences = [(["a", "b"], ["X", "Y"]), (["b"], ["Y"])]
    words, tags = build_tagging_vocabularies(sentences)
    assert words[:2] == ["<pad>", "<unk>"] and tags == ["X", "Y"]
    word_ids, tag_ids = encode_tagged(sentences + [(["zzz"], ["X"])], words, tags)
    assert word_ids[-1] == [1]
    (x, y), *_ = list(tagging_dataset(word_ids, tag_ids, batch_size=3))
    assert x.shape == (3, 2) and y.numpy().tolist()[1] == [1, 0]
    with pytest.raises(ValueError, match="unknown tag 'Z'"):
        encode_tagged([(["a"], ["Z"])], words, tags)


@pytest.mark.data
def test_real_ewt_files_read_fully_with_documented_counts():
    try:
        folder = dataset_path("ud_en_ewt")
    except FileNotFoundError as error:
        pytest.skip(f"UD EWT data absent: {error}")
    counts = []
    for name in ("en_ewt-ud-train.conllu.gz", "en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"):
        sentences = read_conllu(folder / name)
        counts.append((len(sentences), sum(len(w) for w, _ in sentences)))
    assert counts == [(12_544, 204_577), (2_001, 25_147), (2_077, 25_094)]
