"""The knowledge base: YAML curated by ESS staff, its schema and its loader."""

from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge

__all__ = ["KnowledgeBase", "KnowledgeError", "load_knowledge"]
