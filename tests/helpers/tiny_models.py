"""Tiny random-init models saved to disk in each library's own hub format, so tests load them
through ``hf:<path>``, ``timm:<path>`` and ``st:<path>`` exactly as a downloaded hub model."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = "a photo of the cat dog kitten picture stock market report red blue car on grass sky".split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]



def save_tokenizer(folder: Path) -> int:
    """A WordPiece tokenizer over a small vocabulary; returns the vocabulary size."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {tok: i for i, tok in enumerate(SPECIALS + WORDS)}
    BertTokenizerFast(vocab=vocab, do_lower_case=True).save_pretrained(folder)
    return len(vocab)


def save_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide BERT with its tokenizer."""
    from transformers import BertConfig, BertModel

    n_vocab = save_tokenizer(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=48, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(folder)
    return folder


def save_image_processor(folder: Path, resize: dict, crop: dict | None, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                         resample: int = 3) -> None:
    from transformers import BitImageProcessor

    BitImageProcessor(size=resize, crop_size=crop or {"height": 1, "width": 1}, do_center_crop=crop is not None,
                      image_mean=list(mean), image_std=list(std), resample=resample).save_pretrained(folder)


def save_dinov2(folder: Path, registers: int = 0, seed: int = 0) -> tuple[Path, torch.nn.Module]:
    """A 2-layer DINOv2 (optionally with register tokens) and a shortest-edge + crop processor."""
    import transformers

    torch.manual_seed(seed)
    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=28, patch_size=14)
    if registers:
        model = transformers.Dinov2WithRegistersModel(transformers.Dinov2WithRegistersConfig(num_register_tokens=registers, **kw))
    else:
        model = transformers.Dinov2Model(transformers.Dinov2Config(**kw))
    model.save_pretrained(folder)
    save_image_processor(folder, {"shortest_edge": 32}, {"height": 28, "width": 28})
    return folder, model.eval()


def save_vit(folder: Path, seed: int = 0) -> tuple[Path, torch.nn.Module]:
    """A 2-layer ViT with a fixed-size (height/width) processor and no crop."""
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(seed)
    model = ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                               image_size=32, patch_size=8))
    model.save_pretrained(folder)
    save_image_processor(folder, {"height": 32, "width": 32}, None, resample=2)
    return folder, model.eval()


def save_clip(folder: Path, seed: int = 0) -> tuple[Path, torch.nn.Module]:
    """A two-tower CLIP (tiny vision and text towers) with an image processor and a tokenizer."""
    from transformers import CLIPConfig, CLIPModel

    n_vocab = save_tokenizer(folder)
    torch.manual_seed(seed)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=48, max_position_embeddings=32, eos_token_id=3, bos_token_id=2, pad_token_id=0),
        vision_config=dict(hidden_size=40, num_hidden_layers=3, num_attention_heads=2, intermediate_size=48,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    model = CLIPModel(cfg)
    model.save_pretrained(folder)
    save_image_processor(folder, {"shortest_edge": 32}, {"height": 32, "width": 32})
    return folder, model.eval()


TIMM_ARGS = dict(img_size=32, patch_size=8, depth=3, embed_dim=48, num_heads=2)


def save_timm_vit(folder: Path, seed: int = 0) -> tuple[Path, torch.nn.Module]:
    """A 3-block timm ViT with a 10-class head, saved in timm's hub format (config.json + safetensors)."""
    import timm
    from timm.models._hub import save_for_hf

    torch.manual_seed(seed)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, **TIMM_ARGS)
    save_for_hf(model, str(folder), model_args=dict(TIMM_ARGS), safe_serialization=True)
    return folder, model.eval()


def save_st(folder: Path, bert_folder: Path) -> Path:
    """A sentence-transformers folder assembled from a tiny BERT and a mean Pooling module."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.base.modules import Transformer

    body = Transformer(str(bert_folder), max_seq_length=32)
    SentenceTransformer(modules=[body, Pooling(32, "mean")], device="cpu").save(str(folder))
    return folder
